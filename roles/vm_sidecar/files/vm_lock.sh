# shellcheck shell=sh
# The VM's run lock: vm_lock.sh acquire|release|status DIR HOLDER SCOPE TIMEOUT DURATION
#
# DIR is a directory under /run (a reboot clears it) made with mkdir, which only one caller can
# do; its file `owner` holds three lines: when the holder last took it (epoch seconds), its
# SCOPE (the workload namespace whose Lease the run holds) and the HOLDER (the run's name).
# acquire waits, checking every second, up to TIMEOUT seconds for a lock of another run. That
# lock is stale, and broken, when it is older than DURATION seconds, when its run held the same
# non-empty SCOPE (this run holds that namespace's Lease now, so the other run ended or lost
# it), or when it has had no owner file for 10 seconds (its run died right after mkdir).
# Prints one line: what was done, or (exit 1) who holds the lock.
set -eu
action=$1 dir=$2 holder=$3 scope=$4 timeout=$5 duration=$6
owner="$dir/owner"
if [ -z "$holder" ]; then
  echo "vm_sidecar_lock_holder is empty: it names the run that holds the lock (the playbooks set it)"
  exit 1
fi

field() { sed -n "${1}p" "$owner" 2>/dev/null || true; }

# Why the lock in DIR is stale (empty: it is not), from what its owner file says.
stale_reason() {
  taken=$(field 1) its_scope=$(field 2) its_holder=$(field 3) now=$(date +%s)
  if [ -z "$taken" ]; then
    made=$(stat -c %Y "$dir" 2>/dev/null || echo "$now")
    [ $((now - made)) -ge 10 ] && echo "it has no owner"
    return 0
  fi
  if [ $((now - taken)) -ge "$duration" ]; then
    echo "it is $((now - taken)) s old"
  elif [ -n "$scope" ] && [ "$its_scope" = "$scope" ]; then
    echo "its run no longer holds the lock of namespace $scope"
  fi
}

take() {
  mkdir "$dir" 2>/dev/null || return 1
  printf '%s\n%s\n%s\n' "$(date +%s)" "$scope" "$holder" >"$dir/owner.new"
  mv "$dir/owner.new" "$owner"
}

case $action in
  status)
    if [ ! -d "$dir" ]; then echo "free"; else echo "held by $(field 3) (namespace $(field 2))"; fi
    ;;
  release)
    if [ -d "$dir" ] && [ "$(field 3)" = "$holder" ]; then rm -rf "$dir" && echo "released"; fi
    ;;
  acquire)
    started=$(date +%s)
    while :; do
      if [ -d "$dir" ] && [ "$(field 3)" = "$holder" ]; then
        printf '%s\n%s\n%s\n' "$(date +%s)" "$scope" "$holder" >"$dir/owner.new"
        mv "$dir/owner.new" "$owner"
        echo "renewed"
        exit 0
      fi
      if take; then echo "acquired"; exit 0; fi
      seen=$(cat "$owner" 2>/dev/null || true)
      why=$(stale_reason)
      if [ -n "$why" ]; then
        # Move it aside (one caller wins the rename), then check that what was moved is what was
        # judged stale; a lock another run took in between goes back.
        aside="$dir.stale.$$"
        if mv -T "$dir" "$aside" 2>/dev/null; then
          if [ "$(cat "$aside/owner" 2>/dev/null || true)" = "$seen" ]; then
            rm -rf "$aside"
            if take; then echo "acquired (broke the lock of $(printf '%s' "$seen" | sed -n 3p): $why)"; exit 0; fi
          else
            mv -T "$aside" "$dir" 2>/dev/null || rm -rf "$aside"
          fi
        fi
        continue
      fi
      waited=$(($(date +%s) - started))
      if [ "$waited" -ge "$timeout" ]; then
        now=$(date +%s) taken=$(field 1)
        echo "Another run holds the lock of this VM ($dir): $(field 3) (namespace $(field 2)," \
          "taken $((now - ${taken:-$now})) s ago). Waited ${waited} s for it. Run again when it is done;" \
          "if that run is gone, its lock is stale after ${duration} s, or break it now with: rm -rf $dir"
        exit 1
      fi
      sleep 1
    done
    ;;
  *)
    echo "usage: vm_lock.sh acquire|release|status DIR HOLDER SCOPE TIMEOUT DURATION" >&2
    exit 2
    ;;
esac
