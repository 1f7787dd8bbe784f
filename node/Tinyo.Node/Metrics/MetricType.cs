namespace Tinyo.Node.Metrics;

/// <summary>The metric types of the Prometheus text format that Tinyo writes (its <c># TYPE</c> line).</summary>
public enum MetricType
{
    /// <summary>A value that only goes up (resets when the process it counts restarts); names end in <c>_total</c>.</summary>
    Counter,

    /// <summary>A value that goes up and down.</summary>
    Gauge,
}
