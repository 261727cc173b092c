#!/usr/bin/env bash
# Fails when a file includes a header from a layer it may not use (CONTRIBUTING.md):
# core <- config <- model <- {tls, lb} <- http <- admin <- cli. Includes point downward.
set -euo pipefail
cd "$(dirname "$0")/.."

allowed() {
    case "$1" in
    core) echo "core" ;;
    config) echo "core config" ;;
    model) echo "core config model" ;;
    tls | lb) echo "core model $1" ;;
    http) echo "core model lb tls http" ;;
    admin) echo "core model lb tls http admin config/diag.h" ;;
    *) echo "*" ;;
    esac
}

bad=0
while IFS= read -r f; do
    layer=${f#src/}
    layer=${layer%%/*}
    ok=$(allowed "$layer")
    [ "$ok" = "*" ] && continue
    while IFS= read -r inc; do
        dir=${inc%%/*}
        [ "$dir" = "$inc" ] && continue
        case " $ok " in
        *" $dir "* | *" $inc "*) ;;
        *)
            echo "$f includes \"$inc\": $layer/ may include only: $ok"
            bad=1
            ;;
        esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find src -name '*.[ch]' | sort)
exit $bad
