# Plot of the benchmark's medians (bench/bench.py writes the data file).
# Usage: gnuplot -e "datafile='...'; outfile='...'" bench/plot.gp
# Columns: system, CONNECT rate at 32 and 256 clients, bulk MB/s through 1
# and 8 tunnels, plain-HTTP keep-alive requests per second.
set terminal pngcairo size 1500,520 font "sans,11"
set output outfile
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key below
set yrange [0:*]
set xtics nomirror scale 0
set multiplot layout 1,3 title "sluice benchmark: medians (loopback, all processes share the CPUs)"
set title "CONNECT + 64-byte echo + close"
set ylabel "cycles per second"
plot datafile using 2:xtic(1) title "32 clients" lc rgb "#4e79a7", \
     '' using 3 title "256 clients" lc rgb "#f28e2b"
set title "Bulk throughput through the tunnel"
set ylabel "MB/s"
plot datafile using 4:xtic(1) title "1 tunnel" lc rgb "#59a14f", \
     '' using 5 title "8 tunnels" lc rgb "#b07aa1"
set title "Plain HTTP, keep-alive (wrk)"
set ylabel "requests per second"
plot datafile using 6:xtic(1) title "64 connections" lc rgb "#76b7b2"
unset multiplot
