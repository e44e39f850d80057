# caption: Perplexity against packet loss; error bars: confidence intervals of the mean over runs (Student's t, as halo report)
load plotdir.'/_style.gp'
set xlabel 'packet loss per link (%)'
set ylabel 'perplexity (TinyStories held-out stories)'
plot for [i=1:words(series)] datafile index (i-1) using 1:2:3 with yerrorlines ls (i == 1 ? 2 : 4) \
     title word(series, i)
