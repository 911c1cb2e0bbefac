package nixdaemon

// lifelineScript runs the daemon ($0) and waits for the end of its
// standard input, a pipe whose write end only the action holds: the
// pipe ends when the action closes it or dies, however it dies, and
// then the daemon is sent SIGTERM. It is macOS's stand-in for Linux's
// parent-death signal, which macOS lacks.
const lifelineScript = `"$0" </dev/null & d=$!
trap 'kill -TERM $d 2>/dev/null; exit 0' TERM INT
while read -r _; do :; done
kill -TERM $d 2>/dev/null
wait $d`
