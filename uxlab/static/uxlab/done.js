// The completion page: back to the panel after a few seconds (the link on the page does the same).

const done = document.getElementById("done");
if (done.dataset.redirectUrl) setTimeout(() => location.assign(done.dataset.redirectUrl), 3000);
