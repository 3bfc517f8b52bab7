#!/bin/sh
# kill-rank1.sh CK TRAINER ARGS...: under mpirun, rank 1 runs the trainer in
# the background and, once rank 0 has written the checkpoint CK (polled: no
# timing), SIGKILLs it and then itself, as a crashed node would; every other
# rank runs the trainer as it is.
ck=$1
shift
if [ "${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}" != 1 ]; then
    exec "$@"
fi
"$@" &
pid=$!
while [ ! -e "$ck" ]; do
    kill -0 "$pid" 2>/dev/null || exit 3 # ended before any checkpoint: the test fails
    sleep 0.05
done
kill -9 "$pid"
kill -9 $$
