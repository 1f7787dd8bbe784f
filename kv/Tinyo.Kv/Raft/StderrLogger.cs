using Microsoft.Extensions.Logging;

namespace Tinyo.Kv.Raft;

/// <summary>DotNext's log messages on stderr, one line each (warnings and up unless verbose).</summary>
internal sealed class StderrLoggerFactory(string name, LogLevel minimum) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new Logger(name, minimum);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(string name, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var line = $"{DateTime.UtcNow:HH:mm:ss.fff} tinyokv[{name}] {logLevel}: {formatter(state, exception)}{(exception is null ? "" : " (" + exception.Message + ")")}";
            Console.Error.WriteLine(line);
        }
    }
}
