# shellcheck shell=sh
# Offboarding (tasks/absent.yml): set net.ipv4.ip_unprivileged_port_start back to what a reboot of
# the VM would give, the role's sysctl file (the second argument) left out: the value the VM's other
# sysctl files set for it (the last one systemd-sysctl would apply), else the kernel's default, 1024.
# It compares first: a re-run after an offboard that was cut off before this step still resets the
# value, and a VM that has it already is left alone. With "check" as the first argument it changes
# nothing. Prints "HAVE -> WANT" when the value differs.
set -u
mode=$1
own=$2
want=
for tool in /usr/lib/systemd/systemd-sysctl /lib/systemd/systemd-sysctl; do
  [ -x "$tool" ] || continue
  # --cat-config prints each file after a line "# PATH"; the role's own file does not count.
  want=$("$tool" --cat-config 2>/dev/null | awk -v own="$own" '
    /^# \// { skip = ($2 == own); next }
    skip { next }
    {
      line = $0
      sub(/^[ \t]*-?/, "", line)
      split(line, kv, "=")
      key = kv[1]; value = kv[2]
      gsub(/[ \t]/, "", key); gsub(/\//, ".", key); gsub(/[ \t]/, "", value)
      if (key == "net.ipv4.ip_unprivileged_port_start" && value ~ /^[0-9]+$/) last = value
    }
    END { print last }')
  break
done
want=${want:-1024}
have=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start) || exit 1
[ "$have" = "$want" ] && exit 0
if [ "$mode" != check ]; then
  sysctl -q -w "net.ipv4.ip_unprivileged_port_start=$want" || exit 1
fi
echo "$have -> $want"
