document.getElementById("app")!.textContent = "AlphaPulse";
