# kube-dns-rs benchmark chart: server CPU per query (lower is better) and QPS per scenario/server.
# Usage: gnuplot -e "datafile='X.dat'; outfile='X.png'" chart.gp   (data written by report.py)
set terminal pngcairo size 1400,1050 noenhanced font ",10"
set output outfile
set multiplot layout 2,1 title "kube-dns-rs vs dnsmasq / unbound / CoreDNS / node-cache (server CPU 0, dnsperf CPU 1; both-cores unpinned)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.8
set grid ytics
set xtics rotate by -30 scale 0
set key off
set bmargin 12
set rmargin 12
set ylabel "server CPU µs per query"
set yrange [0:*]
plot datafile using 2:xtic(1) linecolor rgb "#3465a4", \
     '' using 0:2:(sprintf("%.1f", $2)) with labels offset 0,0.6 notitle
set ylabel "thousand queries per second"
plot datafile using 3:xtic(1) linecolor rgb "#73a946", \
     '' using 0:3:(sprintf("%.0f", $3)) with labels offset 0,0.6 notitle
unset multiplot
