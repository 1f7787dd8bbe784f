namespace Tinyo.Ctl.Client;

/// <summary>The node answered with an error.</summary>
public sealed class ApiException(int status, string code, string message, Api.ErrorBody? body = null) : CtlException(message)
{
    /// <summary>HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>Machine-readable code, e.g. <c>unauthorized</c>, <c>not_found</c>, <c>invalid_statefile</c>.</summary>
    public string Code { get; } = code;

    /// <summary>The full error body (with position for statefile errors).</summary>
    public Api.ErrorBody? Body { get; } = body;
}

/// <summary>The node could not be reached at all.</summary>
public sealed class NodeUnreachableException(string message, Exception? inner = null) : CtlException(message, inner);
