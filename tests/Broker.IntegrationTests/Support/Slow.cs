namespace Broker.IntegrationTests.Support;

/// <summary>
/// Test classes that take long (processes, a browser, tens of thousands of requests): CI runs them with the rest;
/// a developer runs the fast set with <c>dotnet test --filter "Category!=Slow"</c> (README).
/// </summary>
public static class Slow
{
    public const string Category = "Category";
    public const string Name = "Slow";
}
