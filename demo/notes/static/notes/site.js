// Highlights the host that answered, so successive reloads through the load balancer show it move.
document.addEventListener("DOMContentLoaded", function () {
  var host = document.getElementById("hostname");
  if (host) { host.title = "answered by " + host.textContent; }
});
