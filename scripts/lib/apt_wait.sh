# apt_get_waiting ARGS...: apt-get ARGS, waiting (bounded) for another apt or dpkg process
# (unattended-upgrades, a second terminal) to release its lock instead of failing at once.
# Sourced by scripts/bootstrap. APT_LOCK_WAIT_SECONDS bounds the wait (default 600); $sudo is
# the command prefix ("" as root, "sudo" otherwise); output goes to $log.
#
# apt waits for dpkg's lock itself when given DPkg::Lock::Timeout, but `apt-get update` fails
# at once on the package lists' lock (measured with apt 2.6), so that one is retried here until
# the same deadline.
apt_get_waiting() {
  local wait=${APT_LOCK_WAIT_SECONDS:-600} deadline errors holder told=false status
  deadline=$((SECONDS + wait))
  errors=$(mktemp)
  while true; do
    status=0
    ${sudo:-} apt-get -o DPkg::Lock::Timeout="$wait" "$@" >>"${log:-/dev/null}" 2>"$errors" || status=$?
    cat "$errors" >>"${log:-/dev/null}"
    if [ "$status" = 0 ]; then rm -f "$errors"; return 0; fi
    holder=$(grep -Eo '(Could not get lock|Unable to acquire the dpkg frontend lock) [^,]*' "$errors" | head -n 1 || true)
    if [ -z "$holder" ]; then rm -f "$errors"; return "$status"; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "error: another apt or dpkg process still holds its lock after ${wait}s ($holder)." \
           "Let it finish (or stop it), then run scripts/bootstrap again; APT_LOCK_WAIT_SECONDS sets the wait." >&2
      rm -f "$errors"; return "$status"
    fi
    if ! $told; then
      echo "==> another apt or dpkg process holds its lock ($holder); waiting up to ${wait}s for it to finish" >&2
      told=true
    fi
    sleep 2
  done
}
