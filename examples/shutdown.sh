#!/bin/sh
# Stop a server with curl: ask for the shutdown, then poll the status until
# the server is gone.
#
# Try it, with the token app of token_app.py running:
#
#     export SHUTDOWN_TOKEN=...     # the token the app was started with
#     sh examples/shutdown.sh http://127.0.0.1:5000 "deploy"
#
# Exit codes: 0 once the server is gone, 3 if the token was refused, 4 if
# nothing answered, 5 if the server was still up after 60 seconds.
set -u

url="${1:?usage: shutdown.sh BASE_URL [REASON]}"
# Keep the reason to plain words: it is put into JSON as it is.
reason="${2:-curl script}"
: "${SHUTDOWN_TOKEN:?set SHUTDOWN_TOKEN to the shutdown token}"

# The header is passed on standard input (printf is a shell builtin), so
# the token never shows in the process list.
auth() {
    printf 'Authorization: Bearer %s\n' "$SHUTDOWN_TOKEN"
}

code=$(auth | curl -sS -o /dev/null -w '%{http_code}' -X POST \
    -H @- -H 'Content-Type: application/json' \
    --data "{\"reason\": \"$reason\"}" "$url/shutdown")
rc=$?

if [ "$rc" -ne 0 ]; then
    echo "unreachable: curl exited with $rc"
    exit 4
fi

if [ "$code" != 202 ]; then
    echo "refused: HTTP $code"
    exit 3
fi

echo "accepted"
i=0
last=""

# 600 polls, 0.1 s apart: about 60 seconds.
while [ "$i" -lt 600 ]; do
    status=$(auth | curl -sS -H @- "$url/shutdown/status" 2>/dev/null)

    # curl exits with 7 when the connection is refused: the server is gone.
    if [ $? -eq 7 ]; then
        echo "stopped"
        exit 0
    fi

    phase=$(echo "$status" | sed -n 's/.*"phase": *"\([a-z]*\)".*/\1/p')

    if [ -n "$phase" ] && [ "$phase" != "$last" ]; then
        echo "$phase"
        last="$phase"
    fi

    i=$((i + 1))
    sleep 0.1
done

echo "timed out"
exit 5
