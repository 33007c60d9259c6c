// The parsers of the SD image check (src/testing/image/formats.ts) on bytes
// written by hand from each format's specification (docs/style.md §3.2):
// an MBR sector, the arm64 Image header (Linux Documentation/arm64/booting.rst),
// a flattened device tree (devicetree specification ch. 5), config.txt,
// extlinux.conf, a U-Boot script image (U-Boot's include/image.h) and
// `env import -t` text.

import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import {
  fdtStrings,
  parseArm64Image,
  parseConfigTxt,
  parseEnvText,
  parseExtlinux,
  parseFdt,
  parseMbr,
  parseUbootScript,
} from '../../../src/testing/image/formats.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex');

describe('the SD image parsers', () => {
  it('read the MBR: boot flag, type, first sector and length of each used entry, and refuse a sector without 55 AA', () => {
    const s = Buffer.alloc(512);
    // entry 1: bootable, CHS ignored, type 0c, LBA 8192, 262144 sectors
    hex('80 000000 0c 000000 00200000 00000400').copy(s, 446);
    // entry 3 (entry 2 left empty): type 83, LBA 270336, 327680 sectors
    hex('00 000000 83 000000 00200400 00000500').copy(s, 446 + 32);
    s[510] = 0x55;
    s[511] = 0xaa;
    expect(parseMbr(s)).toEqual([
      { index: 1, bootable: true, type: 0x0c, startSector: 8192, sectors: 262144 },
      { index: 3, bootable: false, type: 0x83, startSector: 270336, sectors: 327680 },
    ]);
    s[511] = 0;
    expect(() => parseMbr(s)).toThrow(/55 AA/);
  });

  it('read the arm64 Image header: text_offset, image_size, endianness, and the magic at 56', () => {
    const h = hex(`
      4d5a0091 ff3f2014            # code0 (MZ, for EFI), code1 (b primary_entry)
      0000000000000000             # text_offset 0
      0000020200000000             # image_size 0x02020000 (little-endian u64)
      0a00000000000000             # flags: LE, 4K pages, anywhere in memory
      0000000000000000 0000000000000000 0000000000000000   # res2..res4
      41524d64                     # magic "ARM\\x64"
      40000000                     # res5: offset of the PE header
    `);
    expect(h.length).toBe(64);
    expect(parseArm64Image(h)).toEqual({ textOffset: 0, imageSize: 0x02020000, bigEndian: false, anywhere: true });
    h.write('ARM\x65', 56, 'latin1');
    expect(() => parseArm64Image(h)).toThrow(/magic/);
  });

  it('walk a flattened device tree: properties by node path, string lists, aliases', () => {
    const strings = Buffer.from('compatible\0mmc0\0', 'latin1'); // offsets 0 and 11
    const struct = hex(`
      00000001 00000000                       # BEGIN_NODE "" (the root), padded to 4
      00000003 00000008 00000000 612c620063 2c6400   # PROP len 8 nameoff 0 "a,b\\0c,d\\0"
      00000004                                # NOP
      00000001 616c696173657300               # BEGIN_NODE "aliases"
      00000003 00000005 0000000b 2f6d6d6300 000000   # PROP len 5 nameoff 11 "/mmc\\0", padded
      00000002                                # END_NODE
      00000001 6d6d6300                       # BEGIN_NODE "mmc"
      00000002                                # END_NODE
      00000002 00000009                       # END_NODE (root), END
    `);
    const header = Buffer.alloc(40);
    const rsvmap = Buffer.alloc(16); // one empty reservation: the list's terminator
    const structOff = 40 + 16;
    const stringsOff = structOff + struct.length;
    [0xd00dfeed, stringsOff + strings.length, structOff, stringsOff, 40, 17, 16, 0, strings.length, struct.length].forEach((v, i) =>
      header.writeUInt32BE(v, i * 4),
    );
    const blob = Buffer.concat([header, rsvmap, struct, strings]);
    const fdt = parseFdt(blob);
    expect(fdtStrings(fdt.nodes.get('/')?.get('compatible'))).toEqual(['a,b', 'c,d']);
    expect(fdtStrings(fdt.nodes.get('/aliases')?.get('mmc0'))).toEqual(['/mmc']);
    expect([...fdt.nodes.keys()]).toEqual(['/', '/aliases', '/mmc']);
    blob.writeUInt32BE(0xd00dfeee, 0);
    expect(() => parseFdt(blob)).toThrow(/FDT magic/);
  });

  it('read config.txt: key=value, the initramfs line with its address, comments and filters left out', () => {
    const c = parseConfigTxt('# a comment\n[pi4]\narm_64bit=1\nkernel=Image # trailing\ninitramfs initrd.gz followkernel\n[all]\n');
    expect(Object.fromEntries(c.values)).toEqual({ arm_64bit: '1', kernel: 'Image' });
    expect(c.initramfs).toEqual({ file: 'initrd.gz', address: 'followkernel' });
  });

  it("read extlinux.conf: the default label's kernel, initrd, fdt and append (else the first label's)", () => {
    const l = parseExtlinux(
      'default two\ntimeout 10\nlabel one\n  kernel /one\nlabel two\n  linux /Image\n  initrd /initrd.gz\n  devicetree /a.dtb\n  append console=ttyS2,1500000 x=y\n',
    );
    expect(l).toEqual({ kernel: '/Image', initrd: '/initrd.gz', fdt: '/a.dtb', append: 'console=ttyS2,1500000 x=y' });
    expect(parseExtlinux('label only\n kernel /k\n')).toEqual({ kernel: '/k' });
  });

  it('read a U-Boot script image: header fields, both CRC32s, the one-part body; refuse a changed header or script', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926); // the CRC-32 U-Boot uses (IEEE 802.3)
    const script = 'echo hi\n';
    // Body of a multi-file image: part lengths, 0, then the parts (each padded to 4).
    const body = Buffer.concat([hex('00000008 00000000'), Buffer.from(script, 'latin1')]);
    const h = Buffer.alloc(64);
    h.writeUInt32BE(0x27051956, 0); // magic
    h.writeUInt32BE(0, 8); // time
    h.writeUInt32BE(body.length, 12); // data size
    h.writeUInt32BE(crc32(body), 24); // data CRC
    Buffer.from([5, 22, 6, 0]).copy(h, 28); // os Linux, arch arm64, type script, comp none
    h.write('twin6 A/B boot', 32, 'latin1');
    h.writeUInt32BE(crc32(h), 4); // header CRC, computed with its own field 0
    const img = Buffer.concat([h, body]);
    expect(parseUbootScript(img)).toEqual({ name: 'twin6 A/B boot', os: 5, arch: 22, type: 6, compression: 0, script });
    const bad = Buffer.from(img);
    bad.write('twin7', 32, 'latin1');
    expect(() => parseUbootScript(bad)).toThrow(/header CRC/);
    const bad2 = Buffer.from(img);
    bad2.write('ECHO', 72, 'latin1');
    expect(() => parseUbootScript(bad2)).toThrow(/data CRC/);
    expect(() => parseUbootScript(img.subarray(0, 70))).toThrow(/runs past/);
  });

  it('read env import -t text: name=value lines, # comments, an empty value as unset, a lone newline as nothing', () => {
    expect(Object.fromEntries(parseEnvText('# c\ntwin6_trial=b\ntwin6_trial_gen=2\nx=\nnoequals\nargs=a=b c\n'))).toEqual({
      twin6_trial: 'b',
      twin6_trial_gen: '2',
      args: 'a=b c',
    });
    expect(parseEnvText('\n').size).toBe(0);
  });
});
