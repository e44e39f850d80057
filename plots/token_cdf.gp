# caption: Latency CDF of tokens
load plotdir.'/_style.gp'
set xlabel 'time per token (ms, log scale)'
set ylabel 'fraction of tokens'
set logscale x
set yrange [0:1.02]
set key bottom right
plot for [i=1:words(series)] datafile index (i-1) using 1:2 with steps ls i lw 2 \
     title word(series, i)
