# caption: Speedup over distributed-llama against device heterogeneity; error bars: the report's intervals (from the confidence intervals of both means over runs)
load plotdir.'/_style.gp'
set xlabel 'heterogeneity: speed of the fastest device / speed of the slowest (roofline, x)'
set ylabel 'speedup (distributed-llama time per token / time per token)'
set yrange [0:*]
plot for [i=1:words(series)] datafile index (i-1) using 1:2:3:4 with yerrorlines ls (i+3) \
     title word(series, i), \
     1 with lines dt 3 lc rgb '#555555' title 'distributed-llama'
