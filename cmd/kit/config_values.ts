/**
 * Configuration fields for network values: host:port, CIDR, IP address,
 * MAC address, interface name and a pcap-filter expression checked by the
 * kernel's BPF rules. Addresses are checked by core/addr.ts (the one
 * address parser). MAC fields read the scalar's source text and refuse
 * non-string scalars, so a YAML 1.1 reading can never turn one into a number.
 *
 * @module
 */
import { isScalar, type Scalar } from "yaml";
import { formatMac, isGroup, type MacKey, parseMac } from "../../core/mac.ts";
import { parseIp, parsePort, parsePrefix, splitHostPort } from "../../core/addr.ts";
import { type BpfProgram, type BpfReason, verifyBpf } from "../../core/bpf.ts";
import { compileFilter, PcapError } from "../../ffi/pcap.ts";
import { fail, type Field, field, type Opt, scalarValue } from "./config_field.ts";

/** A socket address: host and port. */
export interface HostPort {
  host: string;
  port: number;
}

/** Formats a HostPort, with brackets around IPv6 hosts. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

const HOST_NAME =
  /^[A-Za-z0-9](?:[A-Za-z0-9\-_]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-_]*[A-Za-z0-9])?)*\.?$/;

/**
 * Parses `host:port`, `[v6]:port`, or `host` alone when a default port is
 * known. The text is split and an address checked by `core/addr.ts` (the one
 * address parser); a host that is not an address must be a DNS name (it is
 * resolved later). An IPv6 host may carry a zone (`[fe80::1%eth0]`), kept as
 * written. Returns the reason as a string on failure.
 */
export function parseHostPort(
  text: string,
  defaultPort?: number,
  /** Port 0 (a listener: the OS picks a free port). */
  allowZero = false,
): HostPort | string {
  const s = splitHostPort(text);
  if (!s.ok) return s.why;
  const { host, port, bracketed } = s.value;
  if (!bracketed && host.includes(":")) return "IPv6 addresses need brackets: [2001:db8::1]:7654";
  if (host === "") return "missing host";
  const zone = bracketed ? host.indexOf("%") : -1;
  const addr = zone === -1 ? host : host.slice(0, zone);
  if (zone !== -1 && !/^%[A-Za-z0-9.\-_]+$/.test(host.slice(zone))) {
    return `bad zone in ${JSON.stringify(host)}`;
  }
  // Written like an address (IPv6, or only digits and dots): it must parse as one.
  if (bracketed || /^[0-9.]+$/.test(addr)) {
    const ip = parseIp(addr);
    if (!ip.ok) return ip.why;
  } else if (!HOST_NAME.test(host)) return `bad host ${JSON.stringify(host)}`;
  if (port === undefined) {
    if (defaultPort === undefined) return "missing :port";
    return { host, port: defaultPort };
  }
  const n = parsePort(port);
  const min = allowZero ? 0 : 1;
  if (n < min) return `port must be ${min}..65535, not ${port}`;
  return { host, port: n };
}

/** `host:port`; the port may be left out when `defaultPort` is given. */
export function hostPort(
  o: Opt<HostPort> & { defaultPort?: number; allowZero?: boolean },
): Field<HostPort> {
  const type = o.defaultPort === undefined ? "HOST:PORT" : `HOST[:PORT] (port ${o.defaultPort})`;
  return field(type, {
    ...o,
    defaultText: o.defaultText ?? (o.default ? formatHostPort(o.default) : undefined),
  }, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string") fail(w, `expected ${type}`, x);
    const r = parseHostPort(x, o.defaultPort, o.allowZero);
    if (typeof r === "string") fail(w, `expected ${type}: ${r} in ${JSON.stringify(x)}`);
    return r;
  });
}

/** `host:port` or `off` (returned as null): for optional listeners such as the API. */
export function hostPortOrOff(
  o: Opt<HostPort | null> & { defaultPort?: number },
): Field<HostPort | null> {
  const inner = hostPort({ doc: o.doc, defaultPort: o.defaultPort, allowZero: true });
  return field(`${inner.type} or off`, {
    ...o,
    defaultText: o.defaultText ??
      (o.default === null ? "off" : o.default ? formatHostPort(o.default) : undefined),
  }, (v, w) => {
    const x = scalarValue(v);
    if (x === "off" || x === false) return null;
    return inner.parse(v, w);
  });
}

/** An IP prefix in CIDR notation, IPv4 or IPv6. */
export interface Cidr {
  address: string;
  prefix: number;
  family: 4 | 6;
}

/** True if `s` is a dotted-quad IPv4 address (`core/addr.ts` parses it). */
export function isIPv4(s: string): boolean {
  return s === s.trim() && !s.includes(":") && parseIp(s).ok;
}

/** True if `s` is an IPv6 address (RFC 4291 text form, with optional embedded IPv4). */
export function isIPv6(s: string): boolean {
  return s === s.trim() && s.includes(":") && parseIp(s).ok;
}

/** Parses `address/prefix` with `core/addr.ts`; the address is kept as written. */
export function parseCidr(text: string): Cidr | string {
  const t = text.trim();
  const r = parsePrefix(t);
  if (!r.ok) return r.why;
  const address = t.slice(0, t.indexOf("/"));
  const family = address.includes(":") ? 6 : 4;
  return { address, prefix: family === 4 ? r.value.bits - 96 : r.value.bits, family };
}

/** One CIDR prefix. */
export function cidr(o: Opt<Cidr>): Field<Cidr> {
  return field("ADDRESS/PREFIX", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string") fail(w, "expected ADDRESS/PREFIX", x);
    const r = parseCidr(x);
    if (typeof r === "string") fail(w, r, x);
    return r;
  });
}

/** An IPv4 or IPv6 address without prefix. */
export function ipAddress(o: Opt<string>): Field<string> {
  return field("IP address", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string" || !(isIPv4(x) || isIPv6(x))) {
      fail(w, "expected an IPv4 or IPv6 address", x);
    }
    return x;
  });
}

/**
 * A unicast MAC address as a string in any usual spelling. Reads the YAML
 * source text, and refuses numbers (an unquoted MAC under YAML 1.1 rules).
 */
export function mac(o: Opt<MacKey>): Field<MacKey> {
  return field("MAC address", {
    ...o,
    defaultText: o.defaultText ?? (o.default === undefined ? undefined : formatMac(o.default)),
  }, (v, w) => {
    let text: unknown = scalarValue(v);
    if (isScalar(v)) {
      const s = v as Scalar;
      if (typeof s.value !== "string") {
        fail(w, 'expected a MAC address as a string (quote it: "00:01:00:02:00:05")', s.value);
      }
      text = s.value;
    }
    if (typeof text !== "string") fail(w, "expected a MAC address", text);
    const r = parseMac(text);
    if (!r.ok) fail(w, `expected a MAC address: ${r.reason}`, text);
    if (isGroup(r.value)) fail(w, "expected a unicast MAC address, not a group address", text);
    return r.value;
  });
}

/** A Linux interface name: 1..15 characters, no '/', ':' or white space. */
export function ifname(o: Opt<string>): Field<string> {
  return field("interface name", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string" || !/^[^/:\s]{1,15}$/.test(x) || x === "." || x === "..") {
      fail(w, "expected an interface name of 1..15 characters without '/', ':' or spaces", x);
    }
    return x;
  });
}

/** A filter expression and the verified program libpcap compiled from it. */
export interface FilterExpression {
  /** The expression as written. */
  expression: string;
  /** The classic BPF program, verified (`core/bpf.ts`), ready to run. */
  program: BpfProgram;
}

const VERIFIER_WORDS: Record<BpfReason, string> = {
  "bpf-empty": "it is empty",
  "bpf-too-long": "it has more than 4096 instructions",
  "bpf-bad-field": "an instruction field is out of range",
  "bpf-bad-opcode": "it uses an unknown instruction",
  "bpf-div-by-zero": "it divides by a constant 0",
  "bpf-shift-too-far": "it shifts by 32 or more",
  "bpf-bad-mem-index": "it addresses scratch memory beyond M[15]",
  "bpf-mem-read-before-write": "it reads scratch memory before writing it",
  "bpf-jump-out-of-range": "it jumps past its end",
  "bpf-backward-jump": "it jumps backwards (a loop, as `protochain` makes)",
  "bpf-last-not-ret": "its last instruction is not a return",
  "bpf-ancillary-load": "it reads Linux socket metadata, which frames here do not have",
};

/**
 * A filter expression in tcpdump's language (pcap-filter(7)), compiled by
 * libpcap (`ffi/pcap.ts`, link type Ethernet) and checked by the BPF
 * verifier (`core/bpf.ts`) when the configuration is loaded. A bad
 * expression is a config error at the value's file:line:col with libpcap's
 * own message. Host and port names in the expression are resolved by
 * libpcap at load time.
 */
export function filterExpression(o: Opt<FilterExpression>): Field<FilterExpression> {
  return field("filter expression (tcpdump syntax)", o, (v, w) => {
    const x = scalarValue(v);
    if (typeof x !== "string" || x.trim() === "") {
      fail(w, "expected a filter expression in tcpdump syntax, as a string", x);
    }
    let insns;
    try {
      insns = compileFilter(x);
    } catch (e) {
      if (!(e instanceof PcapError)) throw e;
      if (e.kind === "load") fail(w, `cannot compile filter: ${e.message}`);
      fail(w, `cannot compile filter ${JSON.stringify(x)}: ${e.pcapMessage}`);
    }
    const r = verifyBpf(insns);
    if (!r.ok) {
      fail(
        w,
        `cannot use filter ${JSON.stringify(x)}: the BPF verifier refuses libpcap's program: ` +
          `${VERIFIER_WORDS[r.reason]} (instruction ${r.pc})`,
      );
    }
    return { expression: x, program: r.value };
  });
}
