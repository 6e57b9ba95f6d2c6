import { Metrics, MetricUnit as Unit } from '@aws-lambda-powertools/metrics';
import type { Dimensions, MetricsPort, MetricUnit } from '../../pipeline/metrics';

const UNITS: Record<MetricUnit, (typeof Unit)[keyof typeof Unit]> = { Count: Unit.Count, Milliseconds: Unit.Milliseconds, 'Count/Second': Unit.CountPerSecond };

/**
 * The metrics port on Powertools Metrics (CloudWatch EMF on stdout). Values are held until
 * `flush()` and published one EMF document per dimension set: Powertools keeps one set of
 * dimensions per flush, and chunks of one invocation run concurrently, so nothing is published
 * while they run. Counts of the same metric and dimensions are summed.
 */
export class EmfMetrics implements MetricsPort {
  private pending = new Map<string, { dims: Dimensions; values: Map<string, { unit: MetricUnit; values: number[] }> }>();

  constructor(private readonly metrics: Metrics) {}

  static forService(serviceName: string): EmfMetrics {
    return new EmfMetrics(new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || 'PosthogBackfill', serviceName }));
  }

  add(name: string, value: number, unit: MetricUnit = 'Count', dims: Dimensions = {}): void {
    const key = JSON.stringify(Object.entries(dims).sort());
    const group = this.pending.get(key) ?? { dims, values: new Map() };
    this.pending.set(key, group);
    const m = group.values.get(name) ?? { unit, values: [] };
    group.values.set(name, m);
    if (unit === 'Count' && m.values.length) m.values[0]! += value;
    else m.values.push(value);
  }

  flush(): void {
    const groups = [...this.pending.values()];
    this.pending = new Map();
    for (const g of groups) {
      for (const [k, v] of Object.entries(g.dims)) this.metrics.addDimension(k, v);
      for (const [name, m] of g.values) for (const v of m.values) this.metrics.addMetric(name, UNITS[m.unit], v);
      this.metrics.publishStoredMetrics();
    }
  }
}
