using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Broker.IntegrationTests.Support;

/// <summary>Keeps every log line the broker writes during a test, so a test can scan them for secrets.</summary>
public sealed class LogSink : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new SinkLogger(this, categoryName);

    public void Dispose() { }

    private sealed class SinkLogger(LogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = $"{logLevel} {category}: {formatter(state, exception)} {exception}";
            if (state is IEnumerable<KeyValuePair<string, object?>> properties)
                line += " " + string.Join(" ", properties.Select(p => $"{p.Key}={p.Value}"));
            sink._lines.Enqueue(line);
        }
    }
}
