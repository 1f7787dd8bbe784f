namespace Tinyo.Ctl;

/// <summary>An error the CLI reports to its user as one clear line (no stack trace).</summary>
public class CtlException(string message, Exception? inner = null) : Exception(message, inner);
