# caption: Speedup over distributed-llama against the threshold tau; error bars: the report's intervals (from the confidence intervals of both means over runs)
load plotdir.'/_style.gp'
set xlabel 'tau (fraction of the predicted importance that is critical)'
set ylabel 'speedup (distributed-llama time per token / time per token)'
set y2label 'contributions dropped (%)'
set yrange [0:*]
set y2range [0:*]
set y2tics
set key bottom left
plot for [i=1:words(series)] datafile index (i-1) using 1:2:3:4 with yerrorlines ls (i+3) \
     title word(series, i).': speedup', \
     for [i=1:words(series)] datafile index (i-1) using 1:5 axes x1y2 with linespoints ls 6 \
     title word(series, i).': contributions dropped (right axis)'
