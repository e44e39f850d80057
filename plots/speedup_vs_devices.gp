# caption: Speedup over distributed-llama against the number of devices
load plotdir.'/_style.gp'
set xlabel 'devices (Raspberry Pi 4B; the root and its workers)'
set ylabel 'speedup (distributed-llama time per token / time per token)'
set yrange [0:*]
set xtics 1
plot for [i=1:words(series)] datafile index (i-1) using 1:2 with linespoints ls (i+3) \
     title word(series, i), \
     1 with lines dt 3 lc rgb '#555555' title 'distributed-llama'
