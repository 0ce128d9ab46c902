#!/bin/sh
# Install (if missing) and start PostgreSQL and RabbitMQ on loopback, for the second test run.
#
# Runs as root on a fresh Debian machine without systemd (CI containers), so the servers are
# started with their own tools: pg_ctlcluster and `rabbitmq-server -detached`.  Safe to run
# again: what is installed, created or running is left as it is.  Everything it says goes to
# stderr; stdout is only the two exports, so callers can do `eval "$(.ci/services.sh)"`.
set -eu

PG_ROLE=cobuild
PG_PASSWORD=cobuild
PG_DB=cobuild
AMQP_PORT=5672
ADMIN_PORT=15672

say() { echo "services: $*" >&2; }

missing=""
command -v pg_lsclusters >/dev/null 2>&1 || missing="$missing postgresql"
command -v rabbitmq-server >/dev/null 2>&1 || missing="$missing rabbitmq-server"
if [ -n "$missing" ]; then
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # The packages' own start scripts fail harmlessly without systemd; we start them below.
    apt-get install -y -qq --no-install-recommends $missing >&2
fi

# --- PostgreSQL ---------------------------------------------------------------------------
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1, $2}')
if [ -z "$cluster" ]; then
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    say "creating PostgreSQL $version cluster"
    pg_createcluster "$version" main >&2
    cluster="$version main"
fi
set -- $cluster
pg_version=$1
pg_cluster=$2
if ! pg_lsclusters --no-header | awk -v v="$pg_version" -v c="$pg_cluster" '$1==v && $2==c {print $4}' | grep -q online; then
    say "starting PostgreSQL $pg_version/$pg_cluster"
    # listen_addresses defaults to localhost: the server is reachable on loopback only.
    pg_ctlcluster "$pg_version" "$pg_cluster" start >&2
fi
pg_port=$(pg_lsclusters --no-header | awk -v v="$pg_version" -v c="$pg_cluster" '$1==v && $2==c {print $3}')

as_postgres() { runuser -u postgres -- "$@"; }
tries=0
until as_postgres psql -p "$pg_port" -qAtc "SELECT 1" >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { say "PostgreSQL does not answer"; exit 1; }
    sleep 0.5
done
if [ "$(as_postgres psql -p "$pg_port" -qAtc "SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE'")" != 1 ]; then
    say "creating role $PG_ROLE"
    # CREATEDB: the test suite creates one database per test.
    as_postgres psql -p "$pg_port" -v ON_ERROR_STOP=1 -qc \
        "CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD'" >&2
fi
if [ "$(as_postgres psql -p "$pg_port" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
    say "creating database $PG_DB"
    as_postgres createdb -p "$pg_port" -O "$PG_ROLE" "$PG_DB" >&2
fi

# --- RabbitMQ -----------------------------------------------------------------------------
# Loopback only: AMQP, the management API (tests create a virtual host per test through it,
# as they create a database per test) and the Erlang ports.
conf=/etc/rabbitmq/rabbitmq.conf
if ! grep -qs "^management.tcp.ip" "$conf"; then
    printf '%s\n' "listeners.tcp.local = 127.0.0.1:$AMQP_PORT" \
        "management.tcp.ip = 127.0.0.1" "management.tcp.port = $ADMIN_PORT" >> "$conf"
fi
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
if ! grep -qs rabbitmq_management /etc/rabbitmq/enabled_plugins; then
    rabbitmq-plugins enable --offline rabbitmq_management >&2
fi

admin_answers() {
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$ADMIN_PORT/api/', timeout=2)" \
        >/dev/null 2>&1
}
if ! admin_answers; then
    if rabbitmqctl -q status >/dev/null 2>&1; then
        say "restarting RabbitMQ with the management API"
        rabbitmqctl -q stop >&2
    fi
    say "starting RabbitMQ"
    rabbitmq-server -detached >&2
    tries=0
    until admin_answers; do
        tries=$((tries + 1))
        [ "$tries" -lt 120 ] || { say "RabbitMQ does not answer"; exit 1; }
        sleep 1
    done
fi

say "PostgreSQL on 127.0.0.1:$pg_port, RabbitMQ on 127.0.0.1:$AMQP_PORT (management :$ADMIN_PORT)"
echo "export COBUILD_TEST_DATABASE_URL=postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$pg_port/$PG_DB"
# The default guest account may log in from loopback only, which is all we need here.
echo "export COBUILD_TEST_BROKER_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT//"
echo "export COBUILD_TEST_BROKER_ADMIN_URL=http://guest:guest@127.0.0.1:$ADMIN_PORT"
