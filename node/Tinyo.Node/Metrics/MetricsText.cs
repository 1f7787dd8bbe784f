using System.Globalization;
using System.Text;

namespace Tinyo.Node.Metrics;

/// <summary>
/// Writes the Prometheus text exposition format 0.0.4 straight into a <see cref="PooledBuffer"/>: per family one
/// <c># HELP</c> and one <c># TYPE</c> line, then its samples <c>name{label="value",…} number</c>. Label values are
/// escaped (<c>\</c>, <c>"</c>, newline), help texts too (<c>\</c>, newline); numbers are written as Go's
/// <c>strconv.ParseFloat</c> reads them (<c>NaN</c>, <c>+Inf</c>, <c>-Inf</c>, integers without a fraction). Metric and
/// label names are the program's own constants: they are checked, never escaped.
/// </summary>
public sealed class MetricsText(PooledBuffer output)
{
    /// <summary>The Content-Type of this format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private string? family;

    /// <summary>Starts a family: its help and type lines. Samples that follow must carry its name (a counter's
    /// samples its name as is).</summary>
    public void Family(string name, MetricType type, string help)
    {
        CheckName(name, label: false);
        if (type == MetricType.Counter && !name.EndsWith("_total", StringComparison.Ordinal))
            throw new ArgumentException($"counter {name}: its name must end in _total");
        family = name;
        Ascii("# HELP ");
        Ascii(name);
        output.Write((byte)' ');
        foreach (var rune in help.EnumerateRunes())
        {
            if (rune.Value == '\\') Ascii("\\\\");
            else if (rune.Value == '\n') Ascii("\\n");
            else Rune(rune);
        }
        output.Write((byte)'\n');
        Ascii("# TYPE ");
        Ascii(name);
        Ascii(type == MetricType.Counter ? " counter\n" : " gauge\n");
    }

    /// <summary>One sample of the current family, without labels.</summary>
    public void Sample(double value) => Sample([], value);

    /// <summary>One sample of the current family with <paramref name="labels"/> (names checked, values escaped).</summary>
    public void Sample(ReadOnlySpan<KeyValuePair<string, string>> labels, double value)
    {
        if (family is null) throw new InvalidOperationException("a sample before its family");
        Ascii(family);
        if (labels.Length > 0)
        {
            output.Write((byte)'{');
            for (int i = 0; i < labels.Length; i++)
            {
                if (i > 0) output.Write((byte)',');
                CheckName(labels[i].Key, label: true);
                Ascii(labels[i].Key);
                Ascii("=\"");
                LabelValue(labels[i].Value);
                output.Write((byte)'"');
            }
            output.Write((byte)'}');
        }
        output.Write((byte)' ');
        Number(value);
        output.Write((byte)'\n');
    }

    /// <summary>A label value: UTF-8, with <c>\</c>, <c>"</c> and newline escaped; an unpaired surrogate (not
    /// UTF-8) becomes U+FFFD.</summary>
    private void LabelValue(string value)
    {
        foreach (var rune in value.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '\\': Ascii("\\\\"); break;
                case '"': Ascii("\\\""); break;
                case '\n': Ascii("\\n"); break;
                default: Rune(rune); break;
            }
        }
    }

    private void Number(double v)
    {
        if (double.IsNaN(v)) { Ascii("NaN"); return; }
        if (double.IsPositiveInfinity(v)) { Ascii("+Inf"); return; }
        if (double.IsNegativeInfinity(v)) { Ascii("-Inf"); return; }
        var span = output.GetSpan(32);
        int n;
        bool ok = Math.Abs(v) < 1e15 && v == Math.Floor(v)
            ? ((long)v).TryFormat(span, out n, default, CultureInfo.InvariantCulture)
            : v.TryFormat(span, out n, "R", CultureInfo.InvariantCulture);
        if (!ok) throw new InvalidOperationException("a number longer than 32 bytes");
        output.Advance(n);
    }

    private void Rune(Rune rune)
    {
        var span = output.GetSpan(4);
        output.Advance(rune.EncodeToUtf8(span));
    }

    private void Ascii(string s)
    {
        var span = output.GetSpan(s.Length);
        output.Advance(Encoding.ASCII.GetBytes(s, span));
    }

    /// <summary>Metric names <c>[a-zA-Z_:][a-zA-Z0-9_:]*</c>, label names the same without ':' and not starting with
    /// <c>__</c> (reserved for Prometheus).</summary>
    private static void CheckName(string name, bool label)
    {
        bool ok = name.Length > 0 && !(label && name.StartsWith("__", StringComparison.Ordinal));
        for (int i = 0; ok && i < name.Length; i++)
        {
            char c = name[i];
            ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_' || (c == ':' && !label) || (i > 0 && c is >= '0' and <= '9');
        }
        if (!ok) throw new ArgumentException($"not a valid Prometheus {(label ? "label" : "metric")} name: {name}");
    }
}
