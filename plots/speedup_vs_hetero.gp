# caption: Speedup over distributed-llama against device heterogeneity
load plotdir.'/_style.gp'
set xlabel 'heterogeneity: speed of the fastest device / speed of the slowest (roofline, x)'
set ylabel 'speedup (distributed-llama time per token / time per token)'
set yrange [0:*]
plot for [i=1:words(series)] datafile index (i-1) using 1:2 with linespoints ls (i+3) \
     title word(series, i), \
     1 with lines dt 3 lc rgb '#555555' title 'distributed-llama'
