#!/bin/bash
# Folder layering check for src/ (run by `make lint`): every folder may only
# include folders below it in the order of docs/ARCHITECTURE.md ("Layers").
# Prints each offending include and exits 1 when one is found.
cd "$(dirname "$0")/.." || exit 2
# Lowest first. A folder may include itself and any folder listed before it.
ORDER="core json metrics config request http kv limits signals decision select session plugins replay telemetry route upstream api admin mock dsl bench cli"
# The pure layers never reach the network or the pipeline even where the
# order would allow it (issue 11: signals, decision, select and session take
# a request view and give verdicts; I/O for them lives in route/ and above).
FORBID="signals:http decision:http session:http select:http request:http"
rank() { local i=0; for f in $ORDER; do [ "$f" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo -1; }
bad=0
while IFS=: read -r file line inc; do
    from=${file#src/}; from=${from%%/*}
    to=$(echo "$inc" | sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\)\/.*/\1/p')
    [ -z "$to" ] || [ "$to" = "$from" ] && continue
    [ -d "src/$to" ] || continue
    rf=$(rank "$from"); rt=$(rank "$to")
    if [ "$rf" -lt 0 ] || [ "$rt" -lt 0 ]; then
        echo "layers: $file:$line: folder '$from' or '$to' has no place in the layer order" >&2; bad=1
    elif [[ " $FORBID " == *" $from:$to "* ]]; then
        echo "layers: $file:$line: $from must not include $to (I/O belongs above it)" >&2; bad=1
    elif [ "$rt" -gt "$rf" ]; then
        echo "layers: $file:$line: $from includes $to (a higher layer)" >&2; bad=1
    fi
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' src --include='*.c' --include='*.h' --include='*.cc')
[ "$bad" -eq 0 ] && echo "layers: ok"
exit $bad
