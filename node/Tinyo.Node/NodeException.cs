namespace Tinyo.Node;

/// <summary>An error of the node daemon that is reported to the caller as one clear message.</summary>
public class NodeException(string message, Exception? inner = null) : Exception(message, inner);
