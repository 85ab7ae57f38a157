using System.Runtime.InteropServices;

namespace Broker.IntegrationTests.Client;

/// <summary>
/// A directory laid out as kubelet lays out a projected volume, written as kubelet's atomic writer writes it: the
/// token lives in a timestamped directory, <c>..data</c> links to that directory and <c>token</c> links to
/// <c>..data/token</c>. A rotation writes a new timestamped directory, links <c>..data_tmp</c> to it, renames that
/// over <c>..data</c> (one atomic rename(2)) and removes the old directory. The <c>token</c> link itself never
/// changes: a reader that looked at the link rather than at what it opens would miss every rotation.
/// </summary>
public sealed class ProjectedTokenDirectory : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("broker-projected-").FullName;
    private string? _current;
    private int _generation;

    /// <summary>The path a pod's container sees, where IdentityTokenFile points.</summary>
    public string TokenPath => Path.Combine(_root, "token");

    public void Write(string token)
    {
        var generation = $"..2026_01_01_00_00_{++_generation:00}.{Random.Shared.Next():x}";
        var directory = Path.Combine(_root, generation);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "token"), token);

        var staged = Path.Combine(_root, "..data_tmp");
        File.CreateSymbolicLink(staged, generation);
        if (rename(staged, Path.Combine(_root, "..data")) != 0)
            throw new IOException($"rename failed: errno {Marshal.GetLastPInvokeError()}");
        if (_current is null) File.CreateSymbolicLink(TokenPath, Path.Combine("..data", "token"));

        if (_current is not null) Directory.Delete(Path.Combine(_root, _current), recursive: true);
        _current = generation;
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    // File.Move refuses to replace a link to a directory; kubelet's os.Rename is rename(2), which replaces it atomically.
    [DllImport("libc", SetLastError = true)]
    private static extern int rename(string oldPath, string newPath);
}
