# syntax=docker/dockerfile:1
# The broker image: built with the .NET SDK, run on the ASP.NET Core runtime as the image's non-root user.
#   docker build -t broker .                      the broker (the last stage)
#   docker build -t broker-simulator --target simulator .   the provider simulator, for demos only
# Listens on 8080 (the runtime image's ASPNETCORE_HTTP_PORTS). Configuration: docs/configuration.md.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Project files first: the restore layer is reused until a dependency changes.
COPY Directory.Build.props ./
COPY src/Broker.Domain/Broker.Domain.csproj src/Broker.Domain/
COPY src/Broker.Infrastructure/Broker.Infrastructure.csproj src/Broker.Infrastructure/
COPY src/Broker.Api/Broker.Api.csproj src/Broker.Api/
# TARGETARCH (amd64, arm64) is set by BuildKit; dotnet maps it onto its own runtime identifiers.
ARG TARGETARCH
RUN dotnet restore src/Broker.Api/Broker.Api.csproj -a $TARGETARCH
COPY src/Broker.Domain/ src/Broker.Domain/
COPY src/Broker.Infrastructure/ src/Broker.Infrastructure/
COPY src/Broker.Api/ src/Broker.Api/
# Embedded into Broker.Infrastructure: the image migrates the database itself (or run the `migrate` command).
COPY migrations/ migrations/
# ReadyToRun: precompiled code, so a fresh instance does not JIT its token path during its first refresh storm
# (docs/benchmarks.md measures that first storm).
RUN dotnet publish src/Broker.Api/Broker.Api.csproj -c Release -a $TARGETARCH --self-contained false -p:PublishReadyToRun=true --no-restore -o /app

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build-simulator
WORKDIR /src
COPY Directory.Build.props ./
COPY tests/Broker.Simulator/ tests/Broker.Simulator/
RUN dotnet publish tests/Broker.Simulator/Broker.Simulator.csproj -c Release -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS simulator
WORKDIR /app
COPY --from=build-simulator /app ./
USER $APP_UID
ENTRYPOINT ["dotnet", "Broker.Simulator.dll"]

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS broker
WORKDIR /app
COPY --from=build /app ./
COPY --chmod=755 deploy/healthcheck.sh /usr/local/bin/broker-healthcheck
# The runtime image's unprivileged user (uid 1654), given by number so runAsNonRoot checks can verify it.
USER $APP_UID
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["broker-healthcheck"]
# `docker run broker migrate` applies the migrations and exits; `docker run broker create-admin-key --name ops`
# prints a new admin key once and exits (docs/operations.md); anything else is passed to the broker.
ENTRYPOINT ["dotnet", "Broker.Api.dll"]
