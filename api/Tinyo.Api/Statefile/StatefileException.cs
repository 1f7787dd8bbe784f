namespace Tinyo.Api.Statefile;

/// <summary>
/// A statefile that cannot be accepted. The message is one line, <c>file:line:col: field: problem</c>, and the
/// position and field are also available separately for API answers.
/// </summary>
public sealed class StatefileException : Exception
{
    /// <summary>Creates the error; <paramref name="line"/> and <paramref name="column"/> are 1-based, 0 when unknown.</summary>
    public StatefileException(string file, long line, long column, string? field, string problem, Exception? inner = null)
        : base(Format(file, line, column, field, problem), inner)
    {
        File = file;
        Line = line;
        Column = column;
        Field = field;
        Problem = problem;
    }

    /// <summary>The file name as given by the user.</summary>
    public string File { get; }

    /// <summary>1-based line, 0 when unknown.</summary>
    public long Line { get; }

    /// <summary>1-based column, 0 when unknown.</summary>
    public long Column { get; }

    /// <summary>The field path, e.g. <c>mounts[1].target</c>, or null for the document itself.</summary>
    public string? Field { get; }

    /// <summary>The problem without position or field.</summary>
    public string Problem { get; }

    private static string Format(string file, long line, long column, string? field, string problem)
    {
        // The file, field and problem may quote the user's input: escaped, so the message is safe on a terminal.
        var pos = line > 0 ? $"{Printable.Escape(file)}:{line}:{column}" : Printable.Escape(file);
        return field is null ? $"{pos}: {Printable.Escape(problem)}" : $"{pos}: {Printable.Escape(field)}: {Printable.Escape(problem)}";
    }
}
