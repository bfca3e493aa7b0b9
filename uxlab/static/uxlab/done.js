// The completion page: back to the panel after a while, which the participant can stop (WCAG 2.2.1);
// the link on the page goes at once. The countdown is shown but not announced every second.

const done = document.getElementById("done");
const notice = document.getElementById("redirect-notice");
const countdown = document.getElementById("redirect-countdown");
let left = Number(done.dataset.redirectSeconds) || 30;

if (done.dataset.redirectUrl) {
  notice.hidden = false;
  const timer = setInterval(() => {
    left -= 1;
    if (left <= 0) {
      clearInterval(timer);
      location.assign(done.dataset.redirectUrl);
      return;
    }
    countdown.textContent = `You will be taken back to the panel in ${left} second${left === 1 ? "" : "s"}.`;
  }, 1000);
  document.getElementById("redirect-stay").addEventListener("click", () => {
    clearInterval(timer);
    countdown.textContent = "You are staying on this page. Use the link above when you are ready.";
    document.getElementById("redirect-stay").hidden = true;
    document.getElementById("completion-link").focus();
  });
}
