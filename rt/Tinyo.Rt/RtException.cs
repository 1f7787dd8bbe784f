namespace Tinyo.Rt;

/// <summary>
/// An error of the runtime that is reported to its user as one clear line. Every failure caused by bad input
/// (image references, manifests, layers, bundles, flags) surfaces as this type or a subclass; anything else escaping
/// the library is a bug (the fuzz harnesses use this as their oracle).
/// </summary>
public class RtException(string message, Exception? inner = null) : Exception(message, inner);
