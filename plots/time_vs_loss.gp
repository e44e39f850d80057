# caption: Time per token against packet loss; error bars: confidence intervals of the mean over runs (Student's t, as halo report)
load plotdir.'/_style.gp'
set xlabel 'packet loss per link (%)'
set ylabel 'time per token (ms)'
set logscale y
set yrange [*:*]
plot for [i=1:words(series)] datafile index (i-1) using 1:2:3 with yerrorlines ls i \
     title word(series, i)
