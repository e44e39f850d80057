# caption: Speedup over distributed-llama against the threshold tau
load plotdir.'/_style.gp'
set xlabel 'tau (fraction of the predicted importance that is critical)'
set ylabel 'speedup (distributed-llama time per token / time per token)'
set y2label 'contributions dropped (%)'
set yrange [0:*]
set y2range [0:*]
set y2tics
set key bottom left
plot for [i=1:words(series)] datafile index (i-1) using 1:2 with linespoints ls (i+3) \
     title word(series, i).': speedup', \
     for [i=1:words(series)] datafile index (i-1) using 1:3 axes x1y2 with linespoints ls 6 \
     title word(series, i).': contributions dropped (right axis)'
