using System.Collections.Concurrent;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Tinyo.Bench.Env;

/// <summary>
/// "MB/s": uncompressed bytes of the case's layer (recorded by its GlobalSetup under its Layer parameter —
/// the host runs in-process) divided by the median time. Blank for suites that record no size.
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    public static readonly ThroughputColumn Instance = new();
    public static readonly ConcurrentDictionary<string, long> Bytes = new();

    public string Id => "Throughput";
    public string ColumnName => "MB/s (median)";
    public bool AlwaysShow => false;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Uncompressed layer bytes / median time, in 10^6 bytes per second";
    public bool IsAvailable(Summary summary) => !Bytes.IsEmpty;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null || benchmarkCase.Parameters["Layer"] is not string layer || !Bytes.TryGetValue(layer, out var bytes)) return "-";
        return (bytes / (stats.Median / 1e9) / 1e6).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
    }

    public override string ToString() => ColumnName;
}
