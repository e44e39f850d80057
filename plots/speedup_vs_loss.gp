# caption: Speedup over distributed-llama (strict sync over TCP) against packet loss; error bars: the report's intervals (from the confidence intervals of both means over runs)
load plotdir.'/_style.gp'
set xlabel 'packet loss per link (%)'
set ylabel 'speedup (distributed-llama time per token / time per token)'
set yrange [0:*]
set key top left
# The paper's published point only beside the paper's own setup (`paper: true` in the
# scenario file, the query's `paper` value), never beside a sweep that merely has its name.
if (paper) {
plot for [i=1:words(series)] datafile index (i-1) using 1:2:3:4 with yerrorlines ls (i+1) \
     title word(series, i), \
     '+' using (5):(3.41) every ::0::0 with points pt 6 ps 2.5 lw 2 lc rgb 'black' \
     title 'HALO paper: 3.41x (8 Pis, 5% loss)', \
     1 with lines dt 3 lc rgb '#555555' title 'distributed-llama'
} else {
plot for [i=1:words(series)] datafile index (i-1) using 1:2:3:4 with yerrorlines ls (i+1) \
     title word(series, i), \
     1 with lines dt 3 lc rgb '#555555' title 'distributed-llama'
}
