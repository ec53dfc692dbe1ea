// Seeded pseudo-random numbers for the simulator (xoshiro128**, seeded through splitmix32).
// The same seed gives the same sequence on every platform; nothing here touches Math.random.

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform in [min, max). */
  range(min: number, max: number): number
  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number
  /** Gaussian (Box–Muller). */
  normal(mean?: number, sd?: number): number
  /** true with probability p. */
  chance(p: number): boolean
  /** Poisson-distributed count with the given mean (Knuth; fine for the small means used here). */
  poisson(mean: number): number
  pick<T>(items: readonly T[]): T
  /** An independent stream derived from this seed and a label: drawing from one never shifts the other. */
  fork(label: string): Rng
}

export type Seed = number | string

/** 32-bit FNV-1a over the seed's text, so 1, "1" and "line1" all give well-spread states. */
function hashSeed(seed: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

function splitmix32(state: number): () => number {
  let s = state >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

export function createRng(seed: Seed): Rng {
  const label = String(seed)
  const init = splitmix32(hashSeed(label))
  let a = init()
  let b = init()
  let c = init()
  let d = init()
  if ((a | b | c | d) === 0) a = 1 // xoshiro must not start from all zeros
  let spare: number | undefined

  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0
    const t = b << 9
    c ^= a
    d ^= b
    b ^= c
    a ^= d
    c ^= t
    d = rotl(d, 11)
    return result
  }
  const next = (): number => nextU32() / 4294967296

  const rng: Rng = {
    next,
    range: (min, max) => min + (max - min) * next(),
    int: (min, max) => {
      if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) throw new RangeError(`int(${min}, ${max}): need integers with min <= max`)
      return min + Math.floor(next() * (max - min + 1))
    },
    normal: (mean = 0, sd = 1) => {
      if (spare !== undefined) {
        const z = spare
        spare = undefined
        return mean + sd * z
      }
      let u = 0
      while (u === 0) u = next()
      const v = next()
      const r = Math.sqrt(-2 * Math.log(u))
      spare = r * Math.sin(2 * Math.PI * v)
      return mean + sd * r * Math.cos(2 * Math.PI * v)
    },
    chance: (p) => next() < p,
    poisson: (mean) => {
      if (!(mean >= 0)) throw new RangeError(`poisson(${mean}): mean must be >= 0`)
      const limit = Math.exp(-mean)
      let k = 0
      let p = next()
      while (p > limit) {
        k++
        p *= next()
      }
      return k
    },
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('pick() from an empty list')
      return items[Math.floor(next() * items.length)] as T
    },
    fork: (forkLabel) => createRng(`${label}/${forkLabel}`),
  }
  return rng
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
