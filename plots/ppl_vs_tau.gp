# caption: Perplexity against the threshold tau; error bars: confidence intervals of the mean over runs (Student's t, as halo report)
load plotdir.'/_style.gp'
set xlabel 'tau (fraction of the predicted importance that is critical)'
set ylabel 'perplexity (TinyStories held-out stories)'
set y2label 'contributions dropped (%)'
set y2tics
set y2range [0:*]
set key top right
plot for [i=1:words(series)] datafile index (i-1) using 1:2:3 with yerrorlines ls 4 \
     title word(series, i).': perplexity', \
     for [i=1:words(series)] datafile index (i-1) using 1:4 axes x1y2 with linespoints ls 6 \
     title word(series, i).': contributions dropped (right axis)'
