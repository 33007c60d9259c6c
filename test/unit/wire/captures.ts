// Datagrams written by hand from the RFC 8415 layouts (§8, §9, §21), shaped
// like what real clients send. None of these bytes come from our encoder
// (docs/style.md §3.2: fixtures are never our own output).

import { hex } from './helpers.js';

/** ISC dhclient 4.4 `dhclient -6 -N -P`: DUID-LLT, IA_NA, IA_PD, ORO [23, 24], Elapsed Time. */
export const DHCLIENT_SOLICIT = hex(`
  01                              // msg-type 1 SOLICIT (§7.3)
  a1 b2 c3                        // transaction-id
  00 01 00 0e                     // option 1 CLIENTID, option-len 14
    00 01                         //   DUID-LLT (§11.2)
    00 01                         //   hardware type 1, Ethernet
    2b 1c 5e 3a                   //   time: 723279418 s after 2000-01-01
    52 54 00 12 34 56             //   link-layer address
  00 08 00 02 00 00               // option 8 ELAPSED_TIME, 0 cs
  00 06 00 04 00 17 00 18         // option 6 ORO: 23 DNS_SERVERS, 24 DOMAIN_LIST
  00 03 00 0c                     // option 3 IA_NA, option-len 12
    00 12 34 56                   //   IAID: last four octets of the MAC
    00 00 0e 10                   //   T1 3600
    00 00 15 18                   //   T2 5400
  00 19 00 0c                     // option 25 IA_PD, option-len 12
    00 12 34 56 00 00 0e 10 00 00 15 18
`);

/** dhcpcd 10: DUID-LL, FQDN, Vendor Class, ORO, IA_NA, IA_PD with a /56 length hint (RFC 8168). */
export const DHCPCD_SOLICIT = hex(`
  01 5e 3f 10                     // SOLICIT, transaction-id 0x5e3f10
  00 01 00 0a                     // CLIENTID, option-len 10
    00 03 00 01                   //   DUID-LL (§11.4), Ethernet
    52 54 00 ab cd ef             //   link-layer address
  00 27 00 07                     // option 39 CLIENT_FQDN (RFC 4704): not modelled, kept raw
    01 04 68 6f 73 74 00          //   flags S, name "host" (partial, no zone)
  00 10 00 13                     // option 16 VENDOR_CLASS: not modelled, kept raw
    00 00 9f 08                   //   enterprise-number 40712
    00 0d                         //   vendor-class-len 13
    64 68 63 70 63 64 2d 31 30 2e 30 2e 36  // "dhcpcd-10.0.6"
  00 06 00 08 00 17 00 18 00 27 00 52      // ORO: 23, 24, 39, 82 SOL_MAX_RT
  00 08 00 02 00 00               // ELAPSED_TIME 0
  00 03 00 0c                     // IA_NA
    ab cd ef 01 00 00 00 00 00 00 00 00    //   IAID, T1 0, T2 0: "server decides" (§21.4)
  00 19 00 29                     // IA_PD, option-len 41 = 12 + 4 + 25
    00 00 00 01 00 00 00 00 00 00 00 00    //   IAID 1, T1 0, T2 0
    00 1a 00 19                   //   option 26 IAPREFIX, option-len 25
      00 00 00 00 00 00 00 00     //     preferred 0, valid 0
      38                          //     prefix-length 56
      00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  // prefix :: (length hint only)
`);

/** A Reply as a server sends it: lifetimes, a status, RFC 3646 DNS options. */
export const REPLY = hex(`
  07 a1 b2 c3                     // REPLY to dhclient's transaction
  00 01 00 0e 00 01 00 01 2b 1c 5e 3a 52 54 00 12 34 56   // CLIENTID echoed
  00 02 00 0a 00 03 00 01 02 42 ac 11 00 02               // SERVERID, DUID-LL
  00 03 00 28                     // IA_NA, option-len 40
    00 12 34 56 00 00 07 08 00 00 0b 40                   //   IAID, T1 1800, T2 2880
    00 05 00 18                   //   IAADDR, option-len 24
      20 01 0d b8 00 01 00 00 00 00 00 00 00 00 10 00     //     2001:db8:1::1000
      00 00 0e 10 00 00 1c 20     //     preferred 3600, valid 7200
  00 19 00 29                     // IA_PD, option-len 41
    00 12 34 56 00 00 07 08 00 00 0b 40
    00 1a 00 19                   //   IAPREFIX
      00 00 0e 10 00 00 1c 20 38  //     preferred 3600, valid 7200, /56
      20 01 0d b8 80 00 01 00 00 00 00 00 00 00 00 00     //     2001:db8:8000:100::
  00 0d 00 0a 00 00 61 6c 6c 20 67 6f 6f 64               // STATUS_CODE 0 "all good"
  00 17 00 20                     // DNS_SERVERS (RFC 3646 §3), 2 addresses
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 53
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 35
  00 18 00 1e                     // DOMAIN_LIST (RFC 3646 §4), option-len 30
    07 65 78 61 6d 70 6c 65 03 63 6f 6d 00                // example.com
    03 6c 61 62 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00    // lab.example.com
`);

export const RELAY_HEADER = `
  00                              // hop-count 0
  20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 01        // link-address 2001:db8:1::1
  fe 80 00 00 00 00 00 00 50 54 00 ff fe 12 34 56        // peer-address fe80::5054:ff:fe12:3456
  00 12 00 04 65 74 68 31         // INTERFACE_ID "eth1" (§21.18)
`;
