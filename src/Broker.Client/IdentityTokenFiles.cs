using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Broker.Client;

/// <summary>
/// The workload identity token files of this process (<see cref="BrokeredTokenOptions.IdentityTokenFile"/>), each
/// read when first needed and again when it changed. Registered by
/// <see cref="BrokerClientExtensions.AddBrokerTokenClient"/>; there is nothing to call on it.
/// </summary>
/// <remarks>
/// Kubernetes rotates a projected token by writing a new directory and swapping a symlink over to it: the path's
/// own link never changes. So the file is opened (which follows links) and the last-write time and length of what
/// was opened are compared with those of the last read. The content is never logged nor put in an exception.
/// </remarks>
public sealed partial class IdentityTokenFiles
{
    // Far above any real token (the broker refuses JWTs over 8 KiB), low enough that a wrong path to a big file
    // costs nothing.
    private const int MaxBytes = 64 * 1024;

    private readonly ConcurrentDictionary<string, Entry> _files = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    internal IdentityTokenFiles(TimeProvider time, ILogger<IdentityTokenFiles> logger)
    {
        _time = time;
        _logger = logger;
    }

    /// <summary>The file's token: the one read last, unless <paramref name="recheck"/> has passed since the file
    /// was last looked at and it changed since.</summary>
    /// <exception cref="BrokerTokenException">The file is missing, empty, unreadable or holds no token.</exception>
    internal string Current(string account, string path, TimeSpan recheck)
    {
        var entry = _files.GetOrAdd(path, _ => new Entry());
        // Reading a file of a few hundred bytes under the lock is cheaper than any coordination around it.
        lock (entry)
        {
            var now = _time.GetUtcNow();
            if (entry.Token is { } token && now - entry.CheckedAt < recheck) return token;
            return ReadLocked(entry, account, path, now, force: false);
        }
    }

    /// <summary>
    /// The broker refused <paramref name="refused"/>: reads the file whatever its time and length say (a rotation
    /// may have come before the next check, or within the file system's timestamp granularity). Returns the new
    /// token, or null when the file still holds the refused one.
    /// </summary>
    /// <exception cref="BrokerTokenException">The file is missing, empty, unreadable or holds no token.</exception>
    internal string? Reread(string account, string path, string refused)
    {
        var entry = _files.GetOrAdd(path, _ => new Entry());
        lock (entry)
        {
            var token = ReadLocked(entry, account, path, _time.GetUtcNow(), force: true);
            var renewed = token != refused;
            LogReread(_logger, account, path, renewed ? "it holds a new token; retrying once" : "it holds the same token; not retrying");
            return renewed ? token : null;
        }
    }

    private string ReadLocked(Entry entry, string account, string path, DateTimeOffset now, bool force)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var written = File.GetLastWriteTimeUtc(handle);
            var length = RandomAccess.GetLength(handle);
            if (!force && entry.Token is { } known && written == entry.Written && length == entry.Length)
            {
                entry.CheckedAt = now;
                return known;
            }

            if (length > MaxBytes) throw Unusable(account, path, $"is larger than {MaxBytes} bytes, too large for a token");
            var bytes = new byte[length];
            var read = 0;
            while (read < bytes.Length && RandomAccess.Read(handle, bytes.AsSpan(read), read) is var n and > 0) read += n;
            var token = Encoding.UTF8.GetString(bytes, 0, read).Trim();
            if (token.Length == 0) throw Unusable(account, path, "is empty");
            // A header value cannot carry these, and the exception HttpClient would throw could quote the value.
            if (token.Any(c => c is < '!' or > '~'))
                throw Unusable(account, path, "does not hold a token: it has spaces, control or non-ASCII characters inside");

            var previous = entry.Token;
            (entry.Token, entry.Written, entry.Length, entry.CheckedAt) = (token, written, length, now);
            if (previous is null) LogRead(_logger, path, account, token.Length);
            else if (previous != token) LogRotated(_logger, path, account, token.Length);
            return token;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Unusable(account, path, "does not exist", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw Unusable(account, path, "cannot be read: permission denied", e);
        }
        catch (IOException e)
        {
            throw Unusable(account, path, $"cannot be read: {e.Message}", e);
        }
    }

    private static BrokerTokenException Unusable(string account, string path, string what, Exception? inner = null) =>
        new(account, null, null, "The identity token file cannot be used", $"{path} {what}", null, inner);

    private sealed class Entry
    {
        public string? Token;
        public DateTime Written;
        public long Length;
        public DateTimeOffset CheckedAt;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Read the identity token file {Path} for account {Account}: {Length} characters")]
    private static partial void LogRead(ILogger logger, string path, string account, int length);

    [LoggerMessage(Level = LogLevel.Information, Message = "The identity token file {Path} changed; account {Account} now uses its new token ({Length} characters)")]
    private static partial void LogRotated(ILogger logger, string path, string account, int length);

    [LoggerMessage(Level = LogLevel.Information, Message = "The broker refused the identity token of account {Account}; read {Path} again: {Outcome}")]
    private static partial void LogReread(ILogger logger, string account, string path, string outcome);
}
