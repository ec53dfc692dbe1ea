import { describe, expect, it } from 'vitest'
import { checkGrounding, extractQuantities, type GroundingOptions } from './grounding.js'
import type { Fact, FactMetric } from './types.js'

const WINDOW = { start: Date.UTC(2026, 10, 26, 6), end: Date.UTC(2026, 10, 26, 14, 30) }

function fact(id: string, metric: FactMetric, scope: string, value: number, unit: string, display: string): Fact {
  return { id, metric, scope, value, unit, window: WINDOW, display, text: `${scope} ${metric} ${display}` }
}

const TEMP = 'L1/press_03/spindle_temp'

/** An early shift on L1: the numbers every test plants its errors among. */
const SHIFT = {
  facts: [
    fact('parts_total', 'parts', 'site', 1302, 'parts', '1302 parts'),
    fact('rejects_total', 'rejects', 'site', 19, 'parts', '19 parts'),
    fact('reject_rate', 'reject_rate', 'site', 1.5, '%', '1.5 %'),
    fact('coverage', 'coverage', 'site', 97.3, '%', '97.3 %'),
    fact('anomalies', 'anomalies', 'site', 3, '', '3'),
    fact(`mean.${TEMP}`, 'mean', TEMP, 61.2, '°C', '61.2 °C'),
    fact('anomaly_1.start', 'start', TEMP, Date.UTC(2026, 10, 26, 14, 5), 'time', '14:05'),
    fact('anomaly_1.duration', 'duration', TEMP, 12.5, 'min', '12.5 min'),
    fact('shift_date', 'date', 'site', Date.UTC(2026, 10, 26), 'date', '2026-11-26'),
  ],
  names: ['L1', 'L1/press_03', 'L1/press_05', 'press_03', 'press_05', 'spindle_temp'],
}
const REGISTRY: GroundingOptions = { knownNames: ['L1', 'press_03', 'press_05', 'press_07', 'extruder_1', 'spindle_temp'] }

const check = (text: string) => checkGrounding(text, SHIFT, REGISTRY)
const passes = (text: string) => expect(check(text), text).toMatchObject({ ok: true, unmatched: [], unknownNames: [] })
const fails = (text: string, unmatched: string[]) => expect(check(text).unmatched, text).toEqual(unmatched)

describe('checkGrounding', () => {
  it('passes a correct shift summary and counts every number, time and date in it', () => {
    const text =
      'Early shift 2026-11-26 on L1: the line made 1302 parts with 19 rejects, a reject rate of 1.5 %. Data coverage was 97.3 %. ' +
      'There were 3 anomalies; the first started at 14:05 and lasted 12.5 min. Mean spindle_temp on L1/press_03 was 61.2 °C.'
    expect(check(text)).toEqual({ ok: true, numbersChecked: 9, unmatched: [], unknownNames: [] })
  })

  it('passes an empty text with nothing checked', () => {
    expect(check('')).toEqual({ ok: true, numbersChecked: 0, unmatched: [], unknownNames: [] })
    expect(check('The shift ran without trouble.')).toEqual({ ok: true, numbersChecked: 0, unmatched: [], unknownNames: [] })
  })

  describe('wrong numbers', () => {
    it('flags a number no fact has, with its context', () => {
      expect(check('press_03 made 1320 parts.')).toEqual({ ok: false, numbersChecked: 1, unmatched: ['"made 1320 parts": no fact has 1320'], unknownNames: [] })
    })

    it('keeps thousands strict: 1302 and 1,302 match, 1300 does not, even "about" 1300', () => {
      passes('The line made 1302 parts.')
      passes('The line made 1,302 parts.')
      fails('The line made 1300 parts.', ['"made 1300 parts": no fact has 1300'])
      fails('The line made about 1300 parts.', ['"about 1300 parts": no fact has 1300'])
    })

    it('checks the sign of negative numbers', () => {
      fails('There were -19 rejects.', ['"were -19 rejects": no fact has -19'])
      const cold = { facts: [fact('min.ambient', 'min', 'L1/ambient_temp', -3.5, '°C', '-3.5 °C')], names: ['L1', 'ambient_temp'] }
      expect(checkGrounding('The lowest ambient_temp was -3.5 °C.', cold).ok).toBe(true)
      expect(checkGrounding('The lowest ambient_temp was −3.5 °C.', cold).ok).toBe(true)
      expect(checkGrounding('The lowest ambient_temp was 3.5 °C.', cold).unmatched).toEqual(['"lowest ambient_temp was 3.5 °C": no fact has 3.5 °C'])
    })

    it('reads a hyphen between numbers as a range, not a minus', () => {
      expect(extractQuantities('5-10 min').map((q) => q.shown)).toEqual(['5', '10 min'])
    })
  })

  describe('right number, wrong metric', () => {
    it('flags 19 parts made when 19 is the rejects', () => {
      expect(check('The line had 19 parts made.')).toEqual({
        ok: false,
        numbersChecked: 1,
        unmatched: ['"had 19 parts made": 19 is rejects, not parts (wrong metric)'],
        unknownNames: [],
      })
    })

    it('reads rejected parts as rejects, in either order', () => {
      passes('There were 19 rejected parts.')
      passes('19 parts were rejected.')
      passes('19 of the parts were rejected.')
      passes('Rejects: 19.')
    })

    it('takes the keyword after the number first, so a conjunction separates two claims', () => {
      passes('The line made 1302 parts and 19 rejects.')
      fails('The line made 1302 parts and 3 rejects.', ['"3 rejects": 3 is anomalies, not rejects (wrong metric)'])
    })

    it('reads keywords before the number in the same clause', () => {
      passes('Parts made: 1302.')
      fails('Parts made: 19.', ['"made: 19": 19 is rejects, not parts (wrong metric)'])
      fails('The reject rate was 97.3 %.', ['"reject rate was 97.3 %": 97.3 % is coverage, not reject_rate (wrong metric)'])
      passes('The mean spindle temperature was 61.2 °C.')
      fails('The peak spindle temperature was 61.2 °C.', ['"peak spindle temperature was 61.2 °C": 61.2 °C is mean, not max or observed (wrong metric)'])
      passes('Data coverage reached 97.3 %.')
    })

    it('ends the window after a number at a preposition, so a peak next to its limit keeps its own metric', () => {
      const incident = {
        facts: [...SHIFT.facts, fact('anomaly_1.observed', 'observed', TEMP, 93.1, '°C', '93.1 °C'), fact('anomaly_1.expected', 'expected', TEMP, 90, '°C', '90 °C')],
        names: SHIFT.names,
      }
      const text = 'spindle_temp on L1/press_03 peaked at 93.1 °C above the limit. It peaked at 93.1 °C against a limit of 90 °C.'
      expect(checkGrounding(text, incident)).toEqual({ ok: true, numbersChecked: 3, unmatched: [], unknownNames: [] })
      expect(checkGrounding('The limit was 93.1 °C.', incident).unmatched).toEqual(['"limit was 93.1 °C": 93.1 °C is observed, not expected (wrong metric)'])
    })
  })

  describe('names', () => {
    it('reports an invented machine and a registry machine that is not in the facts', () => {
      expect(check('press_08 ran hot while press_07 was idle.')).toEqual({ ok: false, numbersChecked: 0, unmatched: [], unknownNames: ['press_08', 'press_07'] })
    })

    it('reports other identifiers, once each, and a registry name that is not an identifier', () => {
      expect(check('M9 and L3 stopped; M9 restarted.').unknownNames).toEqual(['M9', 'L3'])
      expect(checkGrounding('The Oven was idle.', SHIFT, { knownNames: ['Oven'] }).unknownNames).toEqual(['Oven'])
    })

    it('accepts names case-insensitively, and paths made of known names', () => {
      passes('PRESS_03 on l1 was busy.')
      passes('L1/press_03/spindle_temp and press_03/spindle_temp were steady.')
      expect(check('L1/press_08 was down.').unknownNames).toEqual(['press_08'])
    })

    it('reports a path that puts a known part under the wrong parent', () => {
      expect(check('press_05/spindle_temp was steady.').unknownNames).toEqual(['press_05/spindle_temp'])
    })

    it('does not take plain English words for names', () => {
      expect(check('Spindle temperature on the press was stable, output steady.').unknownNames).toEqual([])
    })

    it('flags a number tied to a machine whose facts do not have it (wrong scope)', () => {
      fails('press_05 mean spindle temperature 61.2 °C.', [
        '"press_05 mean spindle temperature 61.2 °C": 61.2 °C is L1/press_03/spindle_temp, not press_05 (wrong scope)',
      ])
      passes('L1/press_03 spindle_temp mean 61.2 °C.')
      passes('On press_03 the spindle temperature averaged 61.2 °C.')
    })

    it('lets a line name claim a site total, but not a machine name', () => {
      passes('L1 had 19 rejects.')
      fails('press_05 had 19 rejects.', ['"press_05 had 19 rejects": 19 is site, not press_05 (wrong scope)'])
      fails('L1/press_05 reject rate 1.5 %.', ['"L1/press_05 reject rate 1.5 %": 1.5 % is site, not L1/press_05 (wrong scope)'])
    })
  })

  describe('percentages', () => {
    it('accepts 1.5 %, 1.5% and 1.5 percent, and a bare 1.5', () => {
      passes('The reject rate was 1.5 %.')
      passes('The reject rate was 1.5%.')
      passes('The reject rate was 1.5 percent.')
      passes('The reject rate was 1.5.')
    })

    it('does not read a fraction as a percentage, nor 15 % as 1.5 %', () => {
      fails('The reject rate was 0.015.', ['"reject rate was 0.015": no fact has 0.015'])
      fails('The reject rate was 15 %.', ['"reject rate was 15 %": no fact has 15 %'])
    })

    it('matches a percentage only to % facts', () => {
      fails('There were 19 % rejects.', ['"were 19 % rejects": no fact has 19 %'])
    })
  })

  describe('rounding', () => {
    it('lets the text be less precise than the fact, never different', () => {
      passes('Mean spindle temperature 61 °C.')
      passes('Mean spindle temperature 61.2 °C.')
      passes('Mean spindle temperature 61.20 °C.')
      fails('Mean spindle temperature 61.3 °C.', ['"Mean spindle temperature 61.3 °C": no fact has 61.3 °C'])
      fails('Mean spindle temperature 61.25 °C.', ['"Mean spindle temperature 61.25 °C": no fact has 61.25 °C'])
    })

    it('reads °C, ° C, degrees and degrees C as one unit, and keeps other units apart', () => {
      for (const unit of ['°C', '° C', '°', 'degrees', 'degrees C', 'degrees Celsius']) passes(`Mean spindle temperature 61.2 ${unit}.`)
      fails('Mean spindle pressure 61.2 bar.', ['"Mean spindle pressure 61.2 bar": no fact has 61.2 bar'])
    })
  })

  describe('numbers as words', () => {
    it('checks number words like digits', () => {
      passes('There were nineteen rejects and three anomalies.')
      fails('There were twelve rejects.', ['"were twelve rejects": 12 is duration, not rejects (wrong metric)'])
    })

    it('ignores a lone "one" used as a pronoun, but checks "one anomaly"', () => {
      expect(check('One of the presses, press_05, ran clean; one press idled.')).toEqual({ ok: true, numbersChecked: 0, unmatched: [], unknownNames: [] })
      fails('There was one anomaly.', ['"was one anomaly": 1 is reject_rate, not anomalies (wrong metric)'])
    })

    it('reads compounds, hundreds, thousands and a dozen', () => {
      const text = 'twenty-one, one thousand three hundred and two parts, a dozen, ninety nine, two hundred, zero rejects, an hour'
      expect(extractQuantities(text).map((q) => q.value)).toEqual([21, 1302, 12, 99, 200, 0])
      passes('The line made one thousand three hundred and two parts.')
    })
  })

  describe('durations', () => {
    it('converts between min, s and h, judging precision in the text unit', () => {
      for (const d of ['12.5 min', '12.5 minutes', '750 s', '750 seconds', '0.2 h', '0.21 hours', 'a 12.5-minute']) passes(`The anomaly lasted ${d}.`)
      // 12 min claims 11.5–12.5 min: 12.5 is on the edge and accepted (either rounding of 12.5 is fine).
      passes('The anomaly lasted 12 min.')
      fails('The anomaly lasted 11 min.', ['"lasted 11 min": no fact has 11 min'])
      fails('The anomaly lasted 751 s.', ['"lasted 751 s": no fact has 751 s'])
      fails('The anomaly lasted 0.3 h.', ['"lasted 0.3 h": no fact has 0.3 h'])
    })

    it('matches a duration only to duration facts', () => {
      fails('Coverage was 97.3 min.', ['"was 97.3 min": no fact has 97.3 min'])
    })

    it('reads a number glued to a unit (24h, 12.5min) as a quantity, and skips ordinals', () => {
      expect(extractQuantities('over 24h, 12.5min, the 3rd press, 2nd shift, a 3D model').map((q) => q.shown)).toEqual(['24 h', '12.5 min'])
      fails('Over the last 24h the line ran.', ['"last 24h the line": no fact has 24 h'])
    })
  })

  describe('times and dates', () => {
    it('matches a time or a date by its display only', () => {
      passes('The first anomaly started at 14:05.')
      fails('The first anomaly started at 14:50.', ['"at 14:50": no fact has 14:50'])
      passes('Shift of 2026-11-26.')
      fails('Shift of 2026-11-27.', ['"of 2026-11-27": no fact has 2026-11-27'])
      expect(check('It started 2026-11-26T14:05.')).toMatchObject({ ok: true, numbersChecked: 2 })
    })

    it('does not let a time fact match a bare number', () => {
      fails(`Value ${Date.UTC(2026, 10, 26, 14, 5)}.`, [`"Value ${Date.UTC(2026, 10, 26, 14, 5)}": no fact has ${Date.UTC(2026, 10, 26, 14, 5)}`])
    })
  })

  describe('what is not a number', () => {
    it('skips digits inside names and identifiers', () => {
      expect(extractQuantities('L1/press_03 and press_05 near line-2, M3 and spindle_temp2 (L1/press_03)', SHIFT.names)).toEqual([])
      expect(check('press_03 (L1) and press_05 on L1 ran.')).toEqual({ ok: true, numbersChecked: 0, unmatched: [], unknownNames: [] })
      expect(check('line-2 and spindle_temp2 ran.').unknownNames).toEqual(['line-2', 'spindle_temp2'])
    })

    it('skips list markers at the start of a line', () => {
      expect(check('1. L1 made 1302 parts\n2. 19 rejects')).toMatchObject({ ok: true, numbersChecked: 2 })
    })

    it('masks registry names that contain spaces and digits', () => {
      const set = { facts: SHIFT.facts, names: [...SHIFT.names, 'Line 2'] }
      expect(checkGrounding('Line 2 made 1302 parts.', set)).toMatchObject({ ok: true, numbersChecked: 1 })
    })
  })
})
