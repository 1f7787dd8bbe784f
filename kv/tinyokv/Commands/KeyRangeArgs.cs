using System.CommandLine;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>The etcdctl-style key selection shared by get and del: KEY [RANGE_END] [--prefix | --from-key].</summary>
internal sealed class KeyRangeArgs
{
    private readonly Argument<string> _key = new("key") { Description = "The key, or the start of the range" };
    private readonly Argument<string?> _end = new("range-end") { Description = "End of the range (exclusive)", Arity = ArgumentArity.ZeroOrOne };
    private readonly Option<bool> _prefix = new("--prefix") { Description = "Every key starting with KEY" };
    private readonly Option<bool> _fromKey = new("--from-key") { Description = "Every key from KEY on" };

    /// <summary>Adds the arguments and options to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd)
    {
        cmd.Arguments.Add(_key);
        cmd.Arguments.Add(_end);
        cmd.Options.Add(_prefix);
        cmd.Options.Add(_fromKey);
    }

    /// <summary>The key and the exclusive range end (null: the single key).</summary>
    public (byte[] Key, byte[]? End) Resolve(ParseResult pr)
    {
        var k = Common.Utf8(pr.GetValue(_key)!);
        byte[]? end = pr.GetValue(_end) is { } e ? Common.Utf8(e)
            : pr.GetValue(_prefix) ? RangeRequest.PrefixEnd(k)
            : pr.GetValue(_fromKey) ? [0] : null;
        return (k, end);
    }
}
