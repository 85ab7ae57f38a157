using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Npgsql;

namespace Broker.Infrastructure.Security;

/// <summary>
/// Kept by hand rather than EF Core's <c>PersistKeysToDbContext</c>: the table is ours, created and changed by the
/// reviewed SQL migrations with everything else (the EF store expects its own entity in our model and a migration of
/// its own), and <see cref="KeyRingRewrap"/> rewrites these same rows under a lock in one transaction.
/// Keeps the Data Protection key ring in PostgreSQL so that every instance decrypts what the others encrypted; the
/// elements arrive here already wrapped by the key-encryption key (<see cref="KeyRingEncryptor"/>).
/// </summary>
public sealed class PostgresKeyRing(NpgsqlDataSource dataSource) : IXmlRepository
{
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var command = dataSource.CreateCommand("SELECT xml FROM data_protection_keys ORDER BY id");
        using var reader = command.ExecuteReader();
        var elements = new List<XElement>();
        while (reader.Read()) elements.Add(XElement.Parse(reader.GetString(0)));
        return elements;
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var command = dataSource.CreateCommand("INSERT INTO data_protection_keys (friendly_name, xml) VALUES ($1, $2)");
        command.Parameters.Add(new() { Value = friendlyName });
        command.Parameters.Add(new() { Value = element.ToString(SaveOptions.DisableFormatting) });
        command.ExecuteNonQuery();
    }
}
