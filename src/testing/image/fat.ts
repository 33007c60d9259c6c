// A FAT32 reader for the structural check of an SD image (sd-check.ts): the
// root directory's files (8.3 and long names) and their contents. Written
// from Microsoft's FAT specification (fatgen103) rather than read back with
// mtools, which wrote the image: a check by the writer's own tool would only
// show that mtools agrees with itself. Only what a boot partition needs:
// FAT32, 512-byte sectors, files by their path ("extlinux/extlinux.conf").

/** Reads `length` bytes at byte `offset` of the partition. */
export type ReadAt = (offset: number, length: number) => Buffer;

export interface FatFile {
  readonly name: string;
  readonly size: number;
  readonly firstCluster: number;
}

export interface Fat32 {
  readonly label: string;
  readonly hiddenSectors: number;
  readonly totalSectors: number;
  readonly files: ReadonlyMap<string, FatFile>;
  readonly clusterBytes: number;
  /** Where the root directory's first cluster starts, in bytes from the partition's start. */
  readonly rootOffset: number;
  read(file: FatFile): Buffer;
  /** Where the file's first cluster starts, in bytes from the partition's start. */
  offsetOf(file: FatFile): number;
}

/** Bounds on what a corrupt image can make the reader walk. */
const DIR_CLUSTERS_MAX = 64;
const DIR_DEPTH_MAX = 4;
const CLUSTER_CHAIN_MAX = 1 << 20;
const FAT_EOC = 0x0ffffff8;

export function openFat32(readAt: ReadAt, partitionBytes: number): Fat32 {
  const bs = readAt(0, 512);
  if (bs.readUInt16LE(510) !== 0xaa55) throw new Error('FAT: no boot sector signature 55 AA');
  const bytesPerSector = bs.readUInt16LE(11);
  const sectorsPerCluster = bs.readUInt8(13);
  const reserved = bs.readUInt16LE(14);
  const fats = bs.readUInt8(16);
  const rootEntries16 = bs.readUInt16LE(17);
  const fatSize = bs.readUInt32LE(36);
  const totalSectors = bs.readUInt16LE(19) || bs.readUInt32LE(32);
  const rootCluster = bs.readUInt32LE(44);
  if (bytesPerSector !== 512) throw new Error(`FAT: ${bytesPerSector}-byte sectors, expected 512`);
  if (bs.toString('latin1', 82, 90) !== 'FAT32   ' || rootEntries16 !== 0 || fatSize === 0) throw new Error('FAT: not FAT32');
  if (sectorsPerCluster === 0 || (sectorsPerCluster & (sectorsPerCluster - 1)) !== 0) throw new Error('FAT: bad cluster size');
  if (totalSectors * 512 > partitionBytes)
    throw new Error(`FAT: ${totalSectors} sectors do not fit in the ${partitionBytes}-byte partition`);
  const clusterBytes = sectorsPerCluster * 512;
  const dataStart = (reserved + fats * fatSize) * 512;
  const clusters = Math.floor((totalSectors * 512 - dataStart) / clusterBytes);
  const fat = readAt(reserved * 512, fatSize * 512);

  const next = (c: number): number => fat.readUInt32LE(c * 4) & 0x0fffffff;
  const chain = (first: number, max: number): number[] => {
    const out: number[] = [];
    for (let c = first; c < FAT_EOC; c = next(c)) {
      if (c < 2 || c >= clusters + 2) throw new Error(`FAT: cluster ${c} out of range in a chain from ${first}`);
      if (out.length >= max) throw new Error(`FAT: chain from ${first} longer than ${max} clusters`);
      out.push(c);
    }
    return out;
  };
  const readCluster = (c: number): Buffer => readAt(dataStart + (c - 2) * clusterBytes, clusterBytes);

  const files = new Map<string, FatFile>();
  let label = '';
  // Directories are read to a bounded depth (a loop of directory entries ends there).
  const readDir = (firstCluster: number, prefix: string, depth: number): void => {
    const dir = Buffer.concat(chain(firstCluster, DIR_CLUSTERS_MAX).map(readCluster));
    let lfn: string[] = [];
    for (let off = 0; off + 32 <= dir.length; off += 32) {
      const e = dir.subarray(off, off + 32);
      const first = e[0] ?? 0;
      if (first === 0x00) break;
      const attr = e[11] ?? 0;
      if (first === 0xe5) {
        lfn = [];
        continue;
      }
      if (attr === 0x0f) {
        // Long-name entries come last part first; each holds 13 UCS-2 characters.
        const part = Buffer.concat([e.subarray(1, 11), e.subarray(14, 26), e.subarray(28, 32)]);
        const chars = part.toString('utf16le');
        const end = chars.indexOf('\0');
        lfn.unshift(end >= 0 ? chars.slice(0, end) : chars);
        continue;
      }
      const name = lfn.length > 0 ? lfn.join('') : shortName(e);
      lfn = [];
      const cluster = (e.readUInt16LE(20) << 16) | e.readUInt16LE(26);
      if (attr & 0x08) {
        if (depth === 0) label = name.replace('.', '').trim();
      } else if (attr & 0x10) {
        if (name === '.' || name === '..') continue;
        if (depth + 1 >= DIR_DEPTH_MAX) throw new Error(`FAT: directories nested deeper than ${DIR_DEPTH_MAX} at ${prefix}${name}`);
        readDir(cluster, `${prefix}${name}/`, depth + 1);
      } else {
        files.set(prefix + name, { name: prefix + name, size: e.readUInt32LE(28), firstCluster: cluster });
      }
    }
  };
  readDir(rootCluster, '', 0);
  return {
    label,
    hiddenSectors: bs.readUInt32LE(28),
    totalSectors,
    files,
    clusterBytes,
    rootOffset: dataStart + (rootCluster - 2) * clusterBytes,
    offsetOf: (file: FatFile): number => dataStart + (file.firstCluster - 2) * clusterBytes,
    read(file: FatFile): Buffer {
      if (file.size === 0) return Buffer.alloc(0);
      const cs = chain(file.firstCluster, CLUSTER_CHAIN_MAX);
      if (cs.length * clusterBytes < file.size)
        throw new Error(`FAT: ${file.name}: chain of ${cs.length} clusters shorter than ${file.size} bytes`);
      return Buffer.concat(cs.map(readCluster)).subarray(0, file.size);
    },
  };
}

/** An 8.3 name as DOS shows it; byte 12's bits 3 and 4 mark a lower-case base and extension (Windows NT). */
function shortName(e: Buffer): string {
  let base = e.toString('latin1', 0, 8).trimEnd();
  let ext = e.toString('latin1', 8, 11).trimEnd();
  const flags = e[12] ?? 0;
  if (flags & 0x08) base = base.toLowerCase();
  if (flags & 0x10) ext = ext.toLowerCase();
  return ext ? `${base}.${ext}` : base;
}
