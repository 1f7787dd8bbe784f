using System.Text;
using Tinyo.Node.Metrics;

namespace Tinyo.Node.Tests.Metrics;

public sealed class MetricsTextTests
{
    private static string Write(Action<MetricsText> body)
    {
        using var buffer = new PooledBuffer(16); // tiny on purpose: every write grows it
        body(new MetricsText(buffer));
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Fact]
    public void Families_have_help_and_type_lines_before_their_samples()
    {
        var text = Write(w =>
        {
            w.Family("tinyo_things_total", MetricType.Counter, "Things counted.");
            w.Sample([new("app", "web")], 3);
            w.Family("tinyo_level", MetricType.Gauge, "A level.");
            w.Sample(0.25);
        });
        Assert.Equal("# HELP tinyo_things_total Things counted.\n# TYPE tinyo_things_total counter\ntinyo_things_total{app=\"web\"} 3\n"
            + "# HELP tinyo_level A level.\n# TYPE tinyo_level gauge\ntinyo_level 0.25\n", text);
    }

    [Fact]
    public void Label_values_escape_backslash_quote_and_newline_and_keep_utf8()
    {
        var text = Write(w =>
        {
            w.Family("m", MetricType.Gauge, "h");
            w.Sample([new("a", "x\\y\"z\nw"), new("b", "grüße {}=,")], 1);
        });
        Assert.Equal("# HELP m h\n# TYPE m gauge\nm{a=\"x\\\\y\\\"z\\nw\",b=\"grüße {}=,\"} 1\n", text);
    }

    [Fact]
    public void Help_escapes_backslash_and_newline_but_not_quotes()
    {
        var text = Write(w => w.Family("m", MetricType.Gauge, "a \\ b\nc \"q\""));
        Assert.StartsWith("# HELP m a \\\\ b\\nc \"q\"\n", text);
    }

    [Fact]
    public void An_unpaired_surrogate_becomes_the_replacement_character()
    {
        var text = Write(w =>
        {
            w.Family("m", MetricType.Gauge, "h");
            w.Sample([new("a", "x\ud800y")], 1);
        });
        Assert.Contains("a=\"x\ufffdy\"", text);
    }

    [Theory]
    [InlineData(0, "0")]
    [InlineData(-7, "-7")]
    [InlineData(123456789012, "123456789012")]
    [InlineData(1.5, "1.5")]
    [InlineData(1e20, "1E+20")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    public void Numbers_are_what_prometheus_parses(double value, string expected)
    {
        var text = Write(w =>
        {
            w.Family("m", MetricType.Gauge, "h");
            w.Sample(value);
        });
        Assert.EndsWith("\nm " + expected + "\n", text);
    }

    [Theory]
    [InlineData("1bad")]
    [InlineData("with-dash")]
    [InlineData("")]
    [InlineData("sp ace")]
    public void Invalid_metric_names_are_refused(string name)
        => Assert.Throws<ArgumentException>(() => Write(w => w.Family(name, MetricType.Gauge, "h")));

    [Theory]
    [InlineData("__reserved")]
    [InlineData("has:colon")]
    [InlineData("0x")]
    public void Invalid_label_names_are_refused(string label)
        => Assert.Throws<ArgumentException>(() => Write(w =>
        {
            w.Family("m", MetricType.Gauge, "h");
            w.Sample([new(label, "v")], 1);
        }));

    [Fact]
    public void A_counter_name_must_end_in_total_and_a_sample_needs_a_family()
    {
        Assert.Throws<ArgumentException>(() => Write(w => w.Family("requests", MetricType.Counter, "h")));
        Assert.Throws<InvalidOperationException>(() => Write(w => w.Sample(1)));
    }

    [Fact]
    public void The_buffer_grows_past_its_first_array_and_keeps_every_byte()
    {
        var text = Write(w =>
        {
            w.Family("m", MetricType.Gauge, "h");
            for (int i = 0; i < 2000; i++) w.Sample([new("replica", "app-" + i)], i);
        });
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2002, lines.Length);
        Assert.Equal("m{replica=\"app-1999\"} 1999", lines[^1]);
    }
}
