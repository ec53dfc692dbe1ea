/** Collects cleanup steps during a test and runs them all, newest first, even if some fail. */
export function createTeardown() {
  const steps: { name: string; fn: () => unknown }[] = []
  return {
    add(name: string, fn: () => unknown): void {
      steps.push({ name, fn })
    },
    async run(): Promise<void> {
      const errors: string[] = []
      for (const step of steps.splice(0).reverse()) {
        try {
          await step.fn()
        } catch (err) {
          errors.push(`${step.name}: ${err instanceof Error ? err.message : String(err)}`)
        }
      }
      if (errors.length > 0) throw new Error(`teardown failed:\n${errors.join('\n')}`)
    },
  }
}
