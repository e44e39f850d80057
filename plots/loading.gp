# caption: Workers with less memory than their share: time per token
load plotdir.'/_style.gp'
set xlabel 'worker memory (MiB; 512 hold the KV cache, the share needs ~434 more)'
set ylabel 'time per token (ms)'
set logscale y
set yrange [*:*]
set key top right box opaque
plot for [i=1:words(series)] datafile index (i-1) using 1:2 with linespoints ls i \
     title word(series, i)
