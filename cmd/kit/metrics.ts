/**
 * Prometheus text exposition format (version 0.0.4), written by hand.
 *
 * Daemons do not keep a second set of counters for metrics: at scrape time
 * they describe their live counters into a `MetricsWriter`, which groups
 * samples by metric family, emits `# HELP` and `# TYPE` once per family, and
 * escapes label values.
 *
 * @module
 */

/** Metric family type. */
export type MetricType = "counter" | "gauge";

/** Label names to values. */
export type Labels = Record<string, string | number>;

interface Family {
  help: string;
  type: MetricType;
  samples: string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function escapeHelp(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Collects samples for one scrape and renders them. */
export class MetricsWriter {
  #families = new Map<string, Family>();

  /** Adds one sample. Names are prefixed by the caller (`l2_las_...`). */
  sample(name: string, type: MetricType, help: string, value: number, labels?: Labels): this {
    if (!NAME.test(name)) throw new Error(`Cannot write metric ${name}: invalid name`);
    let fam = this.#families.get(name);
    if (!fam) {
      fam = { help, type, samples: [] };
      this.#families.set(name, fam);
    } else if (fam.type !== type) {
      throw new Error(`Cannot write metric ${name}: declared as ${fam.type} and ${type}`);
    }
    let lbl = "";
    if (labels) {
      const parts: string[] = [];
      for (const [k, v] of Object.entries(labels)) {
        if (!LABEL.test(k)) throw new Error(`Cannot write metric ${name}: invalid label ${k}`);
        parts.push(`${k}="${escapeLabel(String(v))}"`);
      }
      if (parts.length > 0) lbl = `{${parts.join(",")}}`;
    }
    fam.samples.push(`${name}${lbl} ${formatValue(value)}`);
    return this;
  }

  /** A monotonically increasing count. By convention the name ends in `_total`. */
  counter(name: string, help: string, value: number, labels?: Labels): this {
    return this.sample(name, "counter", help, value, labels);
  }

  /** A value that goes up and down. */
  gauge(name: string, help: string, value: number, labels?: Labels): this {
    return this.sample(name, "gauge", help, value, labels);
  }

  /** The exposition text. */
  render(): string {
    let out = "";
    for (const [name, fam] of this.#families) {
      out += `# HELP ${name} ${escapeHelp(fam.help)}\n# TYPE ${name} ${fam.type}\n`;
      for (const s of fam.samples) out += s + "\n";
    }
    return out;
  }
}
