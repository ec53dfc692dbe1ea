// bench/compare-models.ts: which small GGUF writes the better short factual JSON shift summary?
//
//   npx tsx bench/compare-models.ts [--threads N] [--json] [--models a,b] [--modes m1,m2]
//                                   [--verbose] [--dump FILE]
//
// For each model of models/models.json whose GGUF is in models/ (scripts/fetch-model --all), it
// loads the model (CPU only, explicit threads, one context of 2048 tokens) and, for six fixed
// shift fact sets, asks for a summary in three modes:
//   free-0shot  {headline, body, highlights[]} under a JSON-schema grammar, system prompt only
//   free-1shot  the same with one worked example (other numbers) in the chat history
//   plan-0shot  "fact-reference plan": the model picks fact ids from an enum and writes
//               digit-free phrases (digit tokens are banned with a token bias); code renders
//               the numbers, so the text is grounded by construction
//   plan-1shot  the same with one worked example plan in the chat history
// and scores each output: zod-valid JSON, every number in the text is a given fact (grounded),
// numbers next to a fact word are that fact's value ("23 rejects" must be the rejects: the
// attribution check), no event or equipment word the facts lack ("faithful"), key facts mentioned (recall), seconds per summary and tokens/s. Greedy decoding (temperature
// 0) and a fixed seed make reruns repeatable. Tables go to stdout (stderr with --json, which
// prints one JSON line to stdout instead).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  getLlama,
  LlamaChatSession,
  LlamaLogLevel,
  TokenBias,
  type ChatHistoryItem,
  type Llama,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { z } from "zod";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// ---------------------------------------------------------------- options
interface Options {
  threads: number;
  json: boolean;
  verbose: boolean;
  models: string[] | null;
  modes: Mode[];
  dump: string | null;
  contextSize: number;
  seed: number;
  selfTest: boolean;
}
const MODES = ["free-0shot", "free-1shot", "plan-0shot", "plan-1shot"] as const;
type Mode = (typeof MODES)[number];

function parseArgs(argv: string[]): Options {
  const o: Options = { threads: 2, json: false, verbose: false, models: null, modes: [...MODES], dump: null, contextSize: 2048, seed: 42, selfTest: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--threads") o.threads = Number(next());
    else if (a === "--json") o.json = true;
    else if (a === "--verbose" || a === "-v") o.verbose = true;
    else if (a === "--models") o.models = next().split(",");
    else if (a === "--modes") o.modes = next().split(",").map((m) => z.enum(MODES).parse(m));
    else if (a === "--dump") o.dump = next();
    else if (a === "--context-size") o.contextSize = Number(next());
    else if (a === "--seed") o.seed = Number(next());
    else if (a === "--self-test") o.selfTest = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write(
        "usage: npx tsx bench/compare-models.ts [--threads N] [--json] [--verbose] [--models a,b] [--modes " +
          MODES.join(",") + "] [--dump FILE] [--context-size N] [--seed N] [--self-test]\n",
      );
      process.exit(0);
    }
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.threads) || o.threads < 1) throw new Error("--threads must be a positive integer");
  return o;
}

// ---------------------------------------------------------------- fact sets
interface Anomaly {
  kind: string;
  start: string; // HH:MM
  durationMin: number;
  peak?: { value: number; unit: string };
}
interface FactSet {
  id: string;
  line: string; // names: may hold digits that are not facts ("Line 2")
  machine: string;
  shift: string;
  start: string;
  end: string;
  partsMade: number;
  rejects: number;
  rejectRatePct: number;
  spindleTempMeanC: number;
  coveragePct: number;
  anomalies: Anomaly[];
  downtimeMin?: number;
}

const FACT_SETS: FactSet[] = [
  {
    id: "s1-day-overheat",
    line: "Line 2", machine: "CNC 3", shift: "Shift A", start: "06:00", end: "14:00",
    partsMade: 1180, rejects: 23, rejectRatePct: 1.9, spindleTempMeanC: 61.4, coveragePct: 98.5,
    anomalies: [{ kind: "spindle temperature high", start: "09:12", durationMin: 14, peak: { value: 78.2, unit: "°C" } }],
  },
  {
    id: "s2-night-quiet",
    line: "Line 1", machine: "CNC 7", shift: "Shift C", start: "22:00", end: "06:00",
    partsMade: 964, rejects: 5, rejectRatePct: 0.5, spindleTempMeanC: 58.9, coveragePct: 99.7,
    anomalies: [],
  },
  {
    id: "s3-high-rejects",
    line: "Line 4", machine: "Lathe 2", shift: "Shift B", start: "14:00", end: "22:00",
    partsMade: 812, rejects: 61, rejectRatePct: 7.5, spindleTempMeanC: 66.2, coveragePct: 96.1,
    anomalies: [{ kind: "coolant flow low", start: "17:40", durationMin: 38 }],
  },
  {
    id: "s4-low-coverage",
    line: "Line 3", machine: "Mill 5", shift: "Shift A", start: "06:00", end: "14:00",
    partsMade: 1045, rejects: 12, rejectRatePct: 1.1, spindleTempMeanC: 60.7, coveragePct: 71.3,
    anomalies: [{ kind: "spindle temperature sensor dropout", start: "10:05", durationMin: 95 }],
  },
  {
    id: "s5-zero-rejects",
    line: "Line 2", machine: "CNC 1", shift: "Shift B", start: "14:00", end: "22:00",
    partsMade: 1302, rejects: 0, rejectRatePct: 0, spindleTempMeanC: 59.8, coveragePct: 100,
    anomalies: [],
  },
  {
    id: "s6-vibration-downtime",
    line: "Line 5", machine: "Grinder 6", shift: "Shift C", start: "22:00", end: "06:00",
    partsMade: 388, rejects: 9, rejectRatePct: 2.3, spindleTempMeanC: 63.5, coveragePct: 97.4,
    anomalies: [{ kind: "spindle vibration high", start: "01:47", durationMin: 52, peak: { value: 11.8, unit: "mm/s" } }],
    downtimeMin: 47,
  },
];

// The worked example for free-1shot: deliberately different numbers from every set above, so
// copying the example shows up as ungrounded numbers.
const EXAMPLE_SET: FactSet = {
  id: "example",
  line: "Line 9", machine: "Press 8", shift: "Shift B", start: "14:00", end: "22:00",
  partsMade: 2250, rejects: 41, rejectRatePct: 1.8, spindleTempMeanC: 55.3, coveragePct: 99.2,
  anomalies: [{ kind: "hydraulic pressure low", start: "18:25", durationMin: 21 }],
};
const EXAMPLE_SUMMARY = {
  headline: "Line 9 Shift B: 2250 parts, 41 rejects (1.8%)",
  body: "Press 8 made 2250 parts with 41 rejects, a reject rate of 1.8%. Hydraulic pressure was low from 18:25 for 21 min. Data coverage was 99.2%.",
  highlights: ["2250 parts made", "Reject rate 1.8%", "Hydraulic pressure low at 18:25 for 21 min"],
};

const fmt = (n: number): string => String(n);

function factLines(s: FactSet): string {
  const lines = [
    `- line: ${s.line}`,
    `- machine: ${s.machine}`,
    `- shift: ${s.shift}, ${s.start} to ${s.end}`,
    `- parts made: ${fmt(s.partsMade)}`,
    `- rejected parts: ${fmt(s.rejects)}`,
    `- reject rate: ${fmt(s.rejectRatePct)}%`,
    `- mean spindle temperature: ${fmt(s.spindleTempMeanC)} °C`,
  ];
  if (s.anomalies.length === 0) lines.push("- anomalies: none");
  for (const a of s.anomalies) {
    lines.push(`- anomaly: ${a.kind}, started ${a.start}, lasted ${fmt(a.durationMin)} min` + (a.peak ? `, peak ${fmt(a.peak.value)} ${a.peak.unit}` : ""));
  }
  if (s.downtimeMin !== undefined) lines.push(`- downtime: ${fmt(s.downtimeMin)} min`);
  lines.push(`- data coverage: ${fmt(s.coveragePct)}%`);
  return lines.join("\n");
}

interface NumFact { label: string; value: number; key: boolean }
interface TimeFact { label: string; value: string; key: boolean }

function numericFacts(s: FactSet): NumFact[] {
  const f: NumFact[] = [
    { label: "parts made", value: s.partsMade, key: true },
    { label: "rejects", value: s.rejects, key: true },
    { label: "reject rate %", value: s.rejectRatePct, key: true },
    { label: "mean spindle temperature", value: s.spindleTempMeanC, key: false },
    { label: "coverage %", value: s.coveragePct, key: s.coveragePct < 95 },
  ];
  s.anomalies.forEach((a, i) => {
    f.push({ label: `anomaly ${i + 1} duration min`, value: a.durationMin, key: true });
    if (a.peak) f.push({ label: `anomaly ${i + 1} peak`, value: a.peak.value, key: false });
  });
  if (s.downtimeMin !== undefined) f.push({ label: "downtime min", value: s.downtimeMin, key: true });
  return f;
}

function timeFacts(s: FactSet): TimeFact[] {
  const f: TimeFact[] = [
    { label: "shift start", value: s.start, key: false },
    { label: "shift end", value: s.end, key: false },
  ];
  s.anomalies.forEach((a, i) => f.push({ label: `anomaly ${i + 1} start`, value: a.start, key: true }));
  return f;
}

// ---------------------------------------------------------------- number extraction + grounding
interface Extracted { raw: string; kind: "time" | "number"; value: number; decimals: number; time?: string }

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Numbers a reader would see in `text`: times (06:00, 9:12), percents, decimals, integers (with
 * thousands separators). Digits inside the given names ("Line 2", "CNC 3", "Lathe 2") are removed
 * first, case-insensitively, also when written without the space ("Line2") or with a hyphen.
 */
function stripNames(text: string, names: string[]): string {
  let t = text;
  for (const n of names) {
    const m = /^(.*?)[\s-]*(\d+)$/.exec(n);
    const re = m ? new RegExp(`\\b${escapeRe(m[1] ?? "")}[\\s-]*#?${m[2]}\\b`, "gi") : new RegExp(`\\b${escapeRe(n)}\\b`, "gi");
    t = t.replace(re, " ");
  }
  return t;
}

function extractNumbers(text: string, names: string[]): Extracted[] {
  let t = stripNames(text, names);
  const out: Extracted[] = [];
  t = t.replace(/\b(\d{1,2})[:h](\d{2})\b/g, (raw, h: string, mm: string) => {
    const time = `${h.padStart(2, "0")}:${mm}`;
    out.push({ raw, kind: "time", value: Number(h) * 60 + Number(mm), decimals: 0, time });
    return " ";
  });
  for (const m of t.matchAll(/\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?/g)) {
    const raw = m[0];
    const clean = raw.replace(/,/g, "");
    const dot = clean.indexOf(".");
    out.push({ raw, kind: "number", value: Number(clean), decimals: dot < 0 ? 0 : clean.length - dot - 1 });
  }
  return out;
}

/** A written number matches a fact if equal, or equal to the fact rounded to the written decimals. */
function numberMatches(x: Extracted, fact: number): boolean {
  if (x.value === fact) return true;
  const p = 10 ** x.decimals;
  return Math.abs(Math.round(fact * p) / p - x.value) < 1e-9 && x.decimals < decimalsOf(fact);
}
const decimalsOf = (n: number): number => {
  const s = String(n);
  const d = s.indexOf(".");
  return d < 0 ? 0 : s.length - d - 1;
};

interface Grounding { numbers: string[]; ungrounded: string[]; misattributed: string[]; invented: string[]; keyTotal: number; keyMentioned: number; missedKeys: string[] }

// Words for events and equipment that a summary must not bring in when the facts do not have them
// (the one-shot example's "hydraulic pressure" is the usual intruder).
const EVENT_VOCABULARY = ["hydraulic", "pressure", "coolant", "vibration", "overheat", "dropout", "flow", "leak", "jam", "tool wear", "power", "outage", "downtime", "stoppage", "breakdown", "press"];

function inventedTerms(text: string, s: FactSet): string[] {
  const facts = factLines(s).toLowerCase();
  const t = text.toLowerCase();
  const re = (w: string): RegExp => new RegExp(`\\b${w}(?:s|ed|ing)?\\b`);
  return EVENT_VOCABULARY.filter((w) => re(w).test(t) && !re(w).test(facts));
}

/**
 * Numbers written next to a fact word must be that fact's value: "1302 rejects" is grounded (1302
 * is a fact: parts made) but wrong. Returns the offending phrases.
 */
function misattributions(text: string, s: FactSet): string[] {
  const t = stripNames(text, [s.line, s.machine, s.shift]);
  const N = "(\\d{1,3}(?:,\\d{3})+(?:\\.\\d+)?|\\d+(?:\\.\\d+)?)";
  const peaks = (unit: string): number[] => s.anomalies.flatMap((a) => (a.peak && a.peak.unit === unit ? [a.peak.value] : []));
  const rules: { re: RegExp; allowed: number[] }[] = [
    { re: new RegExp(`${N}\\s+(?:parts?\\s+)?(?:rejects?|rejected|scrap(?:ped)?|defects?|defective)\\b`, "gi"), allowed: [s.rejects] },
    { re: new RegExp(`${N}\\s+(?:parts?|pieces|units)\\b(?!\\s+(?:were\\s+|was\\s+)?(?:rejected|scrapped))`, "gi"), allowed: [s.partsMade] },
    { re: new RegExp(`reject(?:ion)?\\s+rate\\s*(?:of|was|is|at|:|=)?\\s*${N}\\s*%`, "gi"), allowed: [s.rejectRatePct] },
    { re: new RegExp(`${N}\\s*%\\s*(?:reject|scrap)`, "gi"), allowed: [s.rejectRatePct] },
    { re: new RegExp(`coverage\\s*(?:of|was|is|at|:|=)?\\s*${N}\\s*%`, "gi"), allowed: [s.coveragePct] },
    { re: new RegExp(`${N}\\s*(?:min|mins|minutes)\\b`, "gi"), allowed: [...s.anomalies.map((a) => a.durationMin), ...(s.downtimeMin !== undefined ? [s.downtimeMin] : [])] },
    { re: new RegExp(`${N}\\s*(?:°\\s*C\\b|degrees)`, "gi"), allowed: [s.spindleTempMeanC, ...peaks("°C")] },
    { re: new RegExp(`${N}\\s*mm\\/s`, "gi"), allowed: peaks("mm/s") },
  ];
  const bad: string[] = [];
  for (const r of rules) {
    for (const m of t.matchAll(r.re)) {
      const raw = m[1] ?? "";
      const clean = raw.replace(/,/g, "");
      const dot = clean.indexOf(".");
      const x: Extracted = { raw, kind: "number", value: Number(clean), decimals: dot < 0 ? 0 : clean.length - dot - 1 };
      if (!r.allowed.some((v) => numberMatches(x, v))) bad.push(m[0].trim());
    }
  }
  return bad;
}

function ground(text: string, s: FactSet): Grounding {
  const names = [s.line, s.machine, s.shift];
  const xs = extractNumbers(text, names);
  const nums = numericFacts(s);
  const times = timeFacts(s);
  const ungrounded: string[] = [];
  for (const x of xs) {
    const ok = x.kind === "time" ? times.some((f) => f.value === x.time) : nums.some((f) => numberMatches(x, f.value));
    if (!ok) ungrounded.push(x.raw);
  }
  const keys = [...nums.filter((f) => f.key), ...times.filter((f) => f.key)];
  const missedKeys: string[] = [];
  for (const k of keys) {
    const hit = typeof k.value === "string" ? xs.some((x) => x.time === k.value) : xs.some((x) => x.kind === "number" && numberMatches(x, k.value as number));
    if (!hit) missedKeys.push(`${k.label}=${k.value}`);
  }
  return { numbers: xs.map((x) => x.raw), ungrounded, misattributed: misattributions(text, s), invented: inventedTerms(text, s), keyTotal: keys.length, keyMentioned: keys.length - missedKeys.length, missedKeys };
}

// ---------------------------------------------------------------- free-text mode
const SummarySchema = z.object({
  headline: z.string().trim().min(1).max(90),
  body: z.string().trim().min(1).max(400),
  highlights: z.array(z.string().trim().min(1).max(90)).min(1).max(3),
});
type Summary = z.infer<typeof SummarySchema>;

const SUMMARY_JSON_SCHEMA = {
  type: "object",
  properties: {
    headline: { type: "string", maxLength: 90 },
    body: { type: "string", maxLength: 400 },
    highlights: { type: "array", items: { type: "string", maxLength: 90 }, minItems: 1, maxItems: 3 },
  },
  required: ["headline", "body", "highlights"],
} as const;

const FREE_SYSTEM_PROMPT = [
  "You write short shift summaries for plant managers.",
  "Use only the facts given by the user. Copy every number exactly as written in the facts.",
  "Do not invent numbers, dates, causes or names. Do not calculate new numbers.",
  "Answer with JSON: headline (one short line), body (one to three sentences), highlights (one to three short items).",
].join(" ");

const userPrompt = (s: FactSet): string => `Facts for the shift:\n${factLines(s)}\n\nWrite the shift summary.`;

// ---------------------------------------------------------------- plan mode
const PLAN_IDS = ["parts_made", "rejects", "reject_rate", "spindle_temp", "anomaly", "anomaly_2", "downtime", "coverage"] as const;
type PlanId = (typeof PLAN_IDS)[number];
interface PlanFact { id: PlanId; text: string; key: boolean; topics: string[] }

// A phrase is "on topic" for an anomaly if it names a word of that anomaly's kind (not just any
// anomaly: "Hydraulic pressure was low" for a spindle vibration is off topic) or a generic word.
const GENERIC_ANOMALY_TOPICS = ["anomal", "alarm", "event", "issue", "problem", "fault", "incident"];
const anomalyTopics = (a: Anomaly): string[] => [
  ...a.kind.toLowerCase().split(/\W+/).filter((w) => w.length >= 4 && w !== "high").map((w) => w.slice(0, 6)),
  ...GENERIC_ANOMALY_TOPICS,
];

function planFacts(s: FactSet): PlanFact[] {
  const f: PlanFact[] = [
    { id: "parts_made", text: `${fmt(s.partsMade)} parts made`, key: true, topics: ["part", "output", "produc", "made", "piece", "unit", "throughput", "volume"] },
    { id: "rejects", text: `${fmt(s.rejects)} rejected parts`, key: true, topics: ["reject", "scrap", "defect", "quality", "bad", "fail"] },
    { id: "reject_rate", text: `reject rate ${fmt(s.rejectRatePct)}%`, key: true, topics: ["reject", "scrap", "defect", "quality", "rate", "yield"] },
    { id: "spindle_temp", text: `mean spindle temperature ${fmt(s.spindleTempMeanC)} °C`, key: false, topics: ["temperat", "spindle", "heat", "hot", "warm", "cool", "thermal"] },
  ];
  s.anomalies.slice(0, 2).forEach((a, i) => {
    f.push({
      id: i === 0 ? "anomaly" : "anomaly_2",
      text: `${a.kind} from ${a.start} for ${fmt(a.durationMin)} min` + (a.peak ? `, peak ${fmt(a.peak.value)} ${a.peak.unit}` : ""),
      key: true,
      topics: anomalyTopics(a),
    });
  });
  if (s.downtimeMin !== undefined) f.push({ id: "downtime", text: `downtime ${fmt(s.downtimeMin)} min`, key: true, topics: ["down", "stop", "idle", "halt", "outage", "lost"] });
  f.push({ id: "coverage", text: `data coverage ${fmt(s.coveragePct)}%`, key: s.coveragePct < 95, topics: ["coverage", "data", "sensor", "signal", "gap", "missing", "complete"] });
  return f;
}

const PLAN_SYSTEM_PROMPT = [
  "You plan short shift summaries for plant managers.",
  "The user gives facts, each with an id. Pick the most important facts: one for the headline and up to four points.",
  "For each pick write a short plain-English phrase about that fact, with no digits and no numbers: the software appends the exact value in brackets after your phrase.",
  "Use only the given facts. Answer with JSON.",
].join(" ");

const planUserPrompt = (s: FactSet): string =>
  `Shift: ${s.line}, ${s.machine}, ${s.shift}.\nFacts (id: value):\n` + planFacts(s).map((f) => `- ${f.id}: ${f.text}`).join("\n") + "\n\nPlan the summary.";

function planJsonSchema(ids: readonly string[]) {
  const pick = {
    type: "object",
    properties: { fact: { enum: ids }, phrase: { type: "string", maxLength: 70 } },
    required: ["fact", "phrase"],
  } as const;
  return {
    type: "object",
    properties: { headline: pick, points: { type: "array", items: pick, minItems: 1, maxItems: 4 } },
    required: ["headline", "points"],
  } as const;
}

// The worked example for plan-1shot (for EXAMPLE_SET; digit-free, like every plan).
const EXAMPLE_PLAN = {
  headline: { fact: "anomaly", phrase: "Hydraulic pressure ran low" },
  points: [
    { fact: "parts_made", phrase: "Parts made this shift" },
    { fact: "rejects", phrase: "Parts were rejected" },
    { fact: "reject_rate", phrase: "Reject rate" },
    { fact: "anomaly", phrase: "Hydraulic pressure was low" },
  ],
};

const PlanPickSchema = z.object({ fact: z.enum(PLAN_IDS), phrase: z.string().trim().min(1).max(70) });
const PlanSchema = z.object({ headline: PlanPickSchema, points: z.array(PlanPickSchema).min(1).max(4) });
type Plan = z.infer<typeof PlanSchema>;

function renderPlan(plan: Plan, s: FactSet): Summary {
  const facts = new Map(planFacts(s).map((f) => [f.id, f]));
  const line = (p: Plan["headline"]): string => {
    const phrase = p.phrase.replace(/[\s.;,:]+$/, "");
    return `${phrase.charAt(0).toUpperCase()}${phrase.slice(1)} (${facts.get(p.fact)?.text ?? "?"})`;
  };
  const points = plan.points.map(line);
  return { headline: `${s.line} ${s.shift}: ${line(plan.headline)}`, body: points.map((p) => p + ".").join(" "), highlights: points.slice(0, 3) };
}

interface PlanScore { digitFree: boolean; distinct: boolean; keyCoverage: number; onTopic: number; picks: number; headlineIsKey: boolean }

function scorePlan(plan: Plan, s: FactSet): PlanScore {
  const facts = new Map(planFacts(s).map((f) => [f.id, f]));
  const picks = [plan.headline, ...plan.points];
  const pointIds = plan.points.map((p) => p.fact);
  const chosen = new Set(picks.map((p) => p.fact));
  const keys = planFacts(s).filter((f) => f.key);
  const onTopic = picks.filter((p) => (facts.get(p.fact)?.topics ?? []).some((t) => p.phrase.toLowerCase().includes(t))).length;
  return {
    digitFree: picks.every((p) => !/\p{Nd}/u.test(p.phrase)),
    distinct: new Set(pointIds).size === pointIds.length,
    keyCoverage: keys.length ? keys.filter((k) => chosen.has(k.id)).length / keys.length : 1,
    onTopic: onTopic / picks.length,
    picks: picks.length,
    headlineIsKey: facts.get(plan.headline.fact)?.key ?? false,
  };
}

// ---------------------------------------------------------------- running
interface Manifest { default: string; models: { name: string; file: string; size: number; sha256: string; instructionTuned?: boolean }[] }

interface RunRecord {
  model: string;
  mode: Mode;
  set: string;
  raw: string;
  stopReason: string;
  valid: boolean;
  error?: string;
  summary?: Summary;
  plan?: Plan;
  planScore?: PlanScore;
  grounding?: Grounding;
  degenerate?: boolean;
  seconds: number;
  promptSeconds: number;
  inputTokens: number;
  outputTokens: number;
}

interface ModeStats {
  n: number;
  validPct: number;
  groundedPct: number;
  faithfulPct: number;
  recallPct: number;
  degeneratePct: number;
  meanSeconds: number;
  genTokensPerSecond: number;
  promptTokensPerSecond: number;
  meanOutputTokens: number;
  plan?: { digitFreePct: number; distinctPct: number; keyCoveragePct: number; onTopicPct: number; headlineKeyPct: number };
}

interface ModelResult {
  name: string;
  file: string;
  fileBytes: number;
  chatWrapper: string;
  loadSeconds: number;
  rssBeforeMiB: number;
  rssAfterLoadMiB: number;
  rssAfterContextMiB: number;
  rssPeakMiB: number;
  modes: Partial<Record<Mode, ModeStats>>;
  warnings: string[];
}

const mibOf = (b: number): number => Math.round((b / 1048576) * 10) / 10;
const pct = (a: number, b: number): number => (b === 0 ? 0 : Math.round((a / b) * 1000) / 10);
const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

function isDegenerate(s: Summary): boolean {
  const norm = (x: string): string => x.trim().toLowerCase();
  const parts = [s.headline, s.body, ...s.highlights].map(norm);
  return new Set(parts).size < parts.length || s.highlights.some((h) => norm(h) === norm(s.headline));
}

async function buildDigitBias(model: LlamaModel): Promise<TokenBias> {
  const bias = new TokenBias(model.tokenizer);
  const n = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  for (let i = 0; i < n; i++) {
    const tok = i as Token;
    if (/\p{Nd}/u.test(model.detokenize([tok]))) bias.set(tok, "never");
  }
  return bias;
}

async function runModel(llama: Llama, entry: Manifest["models"][number], opts: Options, warnings: string[], records: RunRecord[]): Promise<ModelResult> {
  const file = join(repoRoot, "models", entry.file);
  const say = (m: string): void => void process.stderr.write(m + "\n");
  warnings.length = 0;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: file });
  const loadSeconds = (performance.now() - t0) / 1000;
  const rssAfterLoad = process.memoryUsage().rss;
  const context = await model.createContext({ contextSize: opts.contextSize, threads: opts.threads });
  const rssAfterContext = process.memoryUsage().rss;
  let rssPeak = rssAfterContext;
  const sequence = context.getSequence();
  let chatWrapper = "";
  const digitBias = opts.modes.some((m) => m.startsWith("plan")) ? await buildDigitBias(model) : undefined;
  const summaryGrammar = await llama.createGrammarForJsonSchema(SUMMARY_JSON_SCHEMA);
  say(`${entry.name}: loaded in ${loadSeconds.toFixed(2)} s, RSS ${mibOf(rssAfterContext)} MiB`);

  const result: ModelResult = {
    name: entry.name, file: entry.file, fileBytes: entry.size, chatWrapper, loadSeconds: Math.round(loadSeconds * 100) / 100,
    rssBeforeMiB: mibOf(rssBefore), rssAfterLoadMiB: mibOf(rssAfterLoad), rssAfterContextMiB: mibOf(rssAfterContext), rssPeakMiB: 0,
    modes: {}, warnings: [],
  };

  for (const mode of opts.modes) {
    const modeRecords: RunRecord[] = [];
    for (const set of FACT_SETS) {
      const isPlan = mode === "plan-0shot" || mode === "plan-1shot";
      const systemPrompt = isPlan ? PLAN_SYSTEM_PROMPT : FREE_SYSTEM_PROMPT;
      const session = new LlamaChatSession({ contextSequence: sequence, systemPrompt, autoDisposeSequence: false });
      chatWrapper = session.chatWrapper.wrapperName ?? session.chatWrapper.constructor.name;
      if (mode === "free-1shot" || mode === "plan-1shot") {
        const history: ChatHistoryItem[] = [
          { type: "system", text: systemPrompt },
          { type: "user", text: isPlan ? planUserPrompt(EXAMPLE_SET) : userPrompt(EXAMPLE_SET) },
          { type: "model", response: [JSON.stringify(isPlan ? EXAMPLE_PLAN : EXAMPLE_SUMMARY)] },
        ];
        session.setChatHistory(history);
      }
      const grammar = isPlan ? await llama.createGrammarForJsonSchema(planJsonSchema(planFacts(set).map((f) => f.id))) : summaryGrammar;
      const prompt = isPlan ? planUserPrompt(set) : userPrompt(set);
      const inBefore = sequence.tokenMeter.usedInputTokens;
      const outBefore = sequence.tokenMeter.usedOutputTokens;
      const start = performance.now();
      let firstChunkAt = 0;
      const res = await session.promptWithMeta(prompt, {
        grammar,
        maxTokens: 600,
        temperature: 0,
        seed: opts.seed,
        ...(isPlan && digitBias ? { tokenBias: digitBias } : {}),
        onTextChunk: () => {
          if (!firstChunkAt) firstChunkAt = performance.now();
        },
      });
      const end = performance.now();
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      const rec: RunRecord = {
        model: entry.name, mode, set: set.id, raw: res.responseText, stopReason: res.stopReason, valid: false,
        seconds: (end - start) / 1000, promptSeconds: ((firstChunkAt || end) - start) / 1000,
        inputTokens: sequence.tokenMeter.usedInputTokens - inBefore, outputTokens: sequence.tokenMeter.usedOutputTokens - outBefore,
      };
      try {
        const json: unknown = JSON.parse(res.responseText);
        if (isPlan) {
          rec.plan = PlanSchema.parse(json);
          rec.planScore = scorePlan(rec.plan, set);
          rec.summary = renderPlan(rec.plan, set);
        } else {
          rec.summary = SummarySchema.parse(json);
        }
        rec.valid = true;
        rec.degenerate = isDegenerate(rec.summary);
        rec.grounding = ground([rec.summary.headline, rec.summary.body, ...rec.summary.highlights].join("\n"), set);
      } catch (e) {
        rec.error =
          e instanceof z.ZodError
            ? "schema: " + e.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")
            : e instanceof Error
              ? e.message
              : String(e);
      }
      modeRecords.push(rec);
      records.push(rec);
      session.dispose({ disposeSequence: false });
      if (opts.verbose) printRecord(rec);
      else say(`  ${mode} ${set.id}: ${rec.valid ? "valid" : "INVALID"} ${rec.seconds.toFixed(1)} s`);
    }
    result.modes[mode] = stats(modeRecords);
  }
  result.chatWrapper = chatWrapper;
  result.rssPeakMiB = mibOf(rssPeak);
  result.warnings = [...warnings];
  await context.dispose();
  await model.dispose();
  return result;
}

function stats(rs: RunRecord[]): ModeStats {
  const valid = rs.filter((r) => r.valid);
  const genSecs = rs.reduce((a, r) => a + (r.seconds - r.promptSeconds), 0);
  const promptSecs = rs.reduce((a, r) => a + r.promptSeconds, 0);
  const s: ModeStats = {
    n: rs.length,
    validPct: pct(valid.length, rs.length),
    // Invalid outputs count as not grounded and as recalling nothing.
    groundedPct: pct(valid.filter((r) => r.grounding && r.grounding.ungrounded.length === 0).length, rs.length),
    // Grounded, no number next to the wrong fact word, no event/equipment the facts do not have.
    faithfulPct: pct(valid.filter((r) => r.grounding && r.grounding.ungrounded.length === 0 && r.grounding.misattributed.length === 0 && r.grounding.invented.length === 0).length, rs.length),
    recallPct: Math.round(mean(rs.map((r) => (r.grounding && r.grounding.keyTotal ? r.grounding.keyMentioned / r.grounding.keyTotal : 0))) * 1000) / 10,
    degeneratePct: pct(valid.filter((r) => r.degenerate).length, rs.length),
    meanSeconds: Math.round(mean(rs.map((r) => r.seconds)) * 100) / 100,
    genTokensPerSecond: genSecs > 0 ? Math.round((rs.reduce((a, r) => a + r.outputTokens, 0) / genSecs) * 10) / 10 : 0,
    promptTokensPerSecond: promptSecs > 0 ? Math.round((rs.reduce((a, r) => a + r.inputTokens, 0) / promptSecs) * 10) / 10 : 0,
    meanOutputTokens: Math.round(mean(rs.map((r) => r.outputTokens))),
  };
  const ps = valid.map((r) => r.planScore).filter((p): p is PlanScore => p !== undefined);
  if (ps.length) {
    s.plan = {
      digitFreePct: pct(ps.filter((p) => p.digitFree).length, rs.length),
      distinctPct: pct(ps.filter((p) => p.distinct).length, rs.length),
      keyCoveragePct: Math.round(mean(ps.map((p) => p.keyCoverage)) * 1000) / 10,
      onTopicPct: Math.round(mean(ps.map((p) => p.onTopic)) * 1000) / 10,
      headlineKeyPct: pct(ps.filter((p) => p.headlineIsKey).length, rs.length),
    };
  }
  return s;
}

function printRecord(r: RunRecord): void {
  const w = (m: string): void => void process.stderr.write(m + "\n");
  w(`--- ${r.model} ${r.mode} ${r.set}: ${r.valid ? "valid" : "INVALID"} (${r.stopReason}), ${r.seconds.toFixed(2)} s, ${r.inputTokens} in / ${r.outputTokens} out tokens`);
  w(`raw: ${r.raw}`);
  if (r.error) w(`error: ${r.error}`);
  if (r.plan && r.summary) w(`rendered: ${JSON.stringify(r.summary)}`);
  if (r.planScore) w(`plan: ${JSON.stringify(r.planScore)}`);
  if (r.grounding) w(`numbers: [${r.grounding.numbers.join(", ")}] ungrounded: [${r.grounding.ungrounded.join(", ")}] misattributed: [${r.grounding.misattributed.join(", ")}] invented: [${r.grounding.invented.join(", ")}] missed keys: [${r.grounding.missedKeys.join(", ")}]${r.degenerate ? " DEGENERATE" : ""}`);
}

function table(r: ModelResult, out: (s: string) => void): void {
  out(`\n${r.name} (${r.file}, ${mibOf(r.fileBytes)} MiB, chat wrapper ${r.chatWrapper})`);
  out(`load ${r.loadSeconds.toFixed(2)} s; RSS before ${r.rssBeforeMiB} MiB, after load ${r.rssAfterLoadMiB} MiB, after context ${r.rssAfterContextMiB} MiB, peak ${r.rssPeakMiB} MiB`);
  const head = ["mode", "valid JSON %", "grounded %", "faithful %", "key-fact recall %", "degenerate %", "mean s/summary", "gen tok/s", "prompt tok/s", "out tokens"];
  const rows = MODES.filter((m) => r.modes[m]).map((m) => {
    const s = r.modes[m] as ModeStats;
    return [m, s.validPct, s.groundedPct, s.faithfulPct, s.recallPct, s.degeneratePct, s.meanSeconds, s.genTokensPerSecond, s.promptTokensPerSecond, s.meanOutputTokens].map(String);
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]): string => "| " + cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ") + " |";
  out(line(head));
  out("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
  for (const row of rows) out(line(row));
  for (const m of ["plan-0shot", "plan-1shot"] as const) {
    const p = r.modes[m]?.plan;
    if (p) out(`${m}: digit-free phrases ${p.digitFreePct}%, no repeated point ${p.distinctPct}%, key facts picked ${p.keyCoveragePct}%, phrase on the fact's topic ${p.onTopicPct}%, headline on a key fact ${p.headlineKeyPct}%`);
  }
  if (r.warnings.length) out(`llama.cpp warnings: ${r.warnings.join(" | ")}`);
}

/** Checks of the scorer itself (no model): npx tsx bench/compare-models.ts --self-test */
function selfTest(): void {
  const s = FACT_SETS[0] as FactSet; // Line 2 / CNC 3 / Shift A, 06:00-14:00, 1180, 23, 1.9%, 61.4 °C, 09:12 14 min 78.2 °C, 98.5%
  const cases: { text: string; ungrounded: string[]; misattributed: string[]; missed: number }[] = [
    { text: "Line 2 Shift A on CNC 3: 1,180 parts, 23 rejects (1.9%). Spindle hot from 9:12 for 14 min, peak 78.2 °C.", ungrounded: [], misattributed: [], missed: 0 },
    { text: "Line2 made 1180 parts; reject rate of 2% and 23 rejected parts; 09:12, 14 minutes; mean 61 °C; coverage 98.5%", ungrounded: [], misattributed: [], missed: 0 },
    { text: "1180 rejects in 2022-2023, machine 3 ran 10:30 for 15 min", ungrounded: ["10:30", "2022", "2023", "3", "15"], misattributed: ["1180 rejects", "15 min"], missed: 4 },
    { text: "Reject rate 23%, coverage 1.9%, 98.5 °C", ungrounded: [], misattributed: ["Reject rate 23%", "coverage 1.9%", "98.5 °C"], missed: 3 },
  ];
  let failed = 0;
  for (const c of cases) {
    const g = ground(c.text, s);
    const ok = JSON.stringify(g.ungrounded) === JSON.stringify(c.ungrounded) && JSON.stringify(g.misattributed) === JSON.stringify(c.misattributed) && g.missedKeys.length === c.missed;
    if (!ok) failed++;
    process.stdout.write(`${ok ? "ok  " : "FAIL"} ${c.text}\n     ungrounded ${JSON.stringify(g.ungrounded)} misattributed ${JSON.stringify(g.misattributed)} missed ${JSON.stringify(g.missedKeys)}\n`);
  }
  const inv = ground("Hydraulic pressure was low; the press overheated", s).invented;
  const invOk = JSON.stringify(inv) === JSON.stringify(["hydraulic", "pressure", "overheat", "press"]);
  process.stdout.write(`${invOk ? "ok  " : "FAIL"} invented terms ${JSON.stringify(inv)}\n`);
  if (!invOk) failed++;
  const plan: Plan = { headline: { fact: "anomaly", phrase: "Spindle ran hot" }, points: [{ fact: "rejects", phrase: "Parts were rejected" }] };
  const rendered = renderPlan(plan, s);
  const pg = ground([rendered.headline, rendered.body, ...rendered.highlights].join("\n"), s);
  process.stdout.write(`${pg.ungrounded.length === 0 ? "ok  " : "FAIL"} plan render ${JSON.stringify(rendered)}\n`);
  if (pg.ungrounded.length) failed++;
  process.stdout.write(`${cases.length + 2 - failed} passed, ${failed} failed\n`);
  if (failed) process.exitCode = 1;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.selfTest) return selfTest();
  const manifest = JSON.parse(readFileSync(join(repoRoot, "models", "models.json"), "utf8")) as Manifest;
  const entries = manifest.models.filter((m) => (opts.models ? opts.models.includes(m.name) : true));
  const present = entries.filter((m) => existsSync(join(repoRoot, "models", m.file)));
  for (const m of entries) if (!present.includes(m)) process.stderr.write(`skipping ${m.name}: models/${m.file} is missing (scripts/fetch-model ${m.name})\n`);
  if (present.length === 0) throw new Error("no model to compare: run scripts/fetch-model --all");

  const warnings: string[] = [];
  const llama = await getLlama({
    gpu: false,
    build: "never",
    maxThreads: opts.threads,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const m = message.trim();
      if (!m) return;
      if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal || level === LlamaLogLevel.warn) warnings.push(m);
      process.stderr.write(`[llama.cpp ${level}] ${m}\n`);
    },
  });
  const records: RunRecord[] = [];
  const results: ModelResult[] = [];
  const benchStart = performance.now();
  for (const entry of present) results.push(await runModel(llama, entry, opts, warnings, records));
  const out = opts.json ? (s: string) => void process.stderr.write(s + "\n") : (s: string) => void process.stdout.write(s + "\n");
  out(`\nthreads ${opts.threads}, context ${opts.contextSize}, temperature 0, seed ${opts.seed}, ${FACT_SETS.length} fact sets, node-llama-cpp CPU`);
  for (const r of results) table(r, out);
  if (opts.dump) writeFileSync(opts.dump, JSON.stringify({ results, records }, null, 2) + "\n");
  if (opts.json) {
    process.stdout.write(
      JSON.stringify({ threads: opts.threads, contextSize: opts.contextSize, seed: opts.seed, factSets: FACT_SETS.length, seconds: Math.round((performance.now() - benchStart) / 100) / 10, models: results }) + "\n",
    );
  }
  await llama.dispose();
}

main().catch((e: unknown) => {
  process.stderr.write(`compare-models: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
