# caption: Where time goes per layer (root's view)
load plotdir.'/_style.gp'
set xlabel 'layer'
set ylabel 'time per token in the layer (ms)'
set yrange [0:*]
set key top right
set style line 11 lc rgb '#c0392b' lw 2 pt 7
set style line 12 lc rgb '#c0392b' lw 2 pt 6 dt 2
set style line 13 lc rgb '#27ae60' lw 2 pt 13
set style line 14 lc rgb '#27ae60' lw 2 pt 12 dt 2
plot for [i=1:words(series)] datafile index (i-1) using 1:2 with linespoints ls (10 + i) \
     title word(series, i)
